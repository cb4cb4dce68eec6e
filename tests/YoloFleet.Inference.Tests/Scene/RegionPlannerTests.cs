using YoloFleet.Inference.Scene;

namespace YoloFleet.Inference.Tests.Scene;

/// <summary>Regions from seeds, the fall-back to the whole frame, exact box mapping, and tiles.</summary>
[Trait("Category", "Scene")]
public sealed class RegionPlannerTests
{
    private readonly RegionPlanner _planner = new(new RegionPlannerOptions());
    private readonly List<PixelRect> _regions = [];

    [Fact]
    public void A_small_seed_becomes_one_input_sized_region_centred_on_it()
    {
        var kind = _planner.Plan(1920, 1080, 416, 416, [new PixelRect(1000, 500, 40, 100)], _regions);

        Assert.Equal(RegionPlanKind.Regions, kind);
        // Grown by 25 px (a quarter of 100) to 990x150 at (975, 475), then fitted: 416x416 centred on (1020, 550).
        Assert.Equal([new PixelRect(812, 342, 416, 416)], _regions);
    }

    [Fact]
    public void A_seed_at_the_frame_corner_gives_a_region_moved_inside_the_frame()
    {
        _planner.Plan(1920, 1080, 416, 416, [new PixelRect(0, 1060, 20, 20)], _regions);

        Assert.Equal([new PixelRect(0, 664, 416, 416)], _regions);
    }

    [Fact]
    public void Far_seeds_stay_apart_and_near_ones_share_a_region()
    {
        Assert.Equal(RegionPlanKind.Regions, _planner.Plan(1920, 1080, 416, 416, [new PixelRect(100, 100, 30, 80), new PixelRect(1700, 900, 30, 80)], _regions));
        Assert.Equal(2, _regions.Count);

        Assert.Equal(RegionPlanKind.Regions, _planner.Plan(1920, 1080, 416, 416, [new PixelRect(800, 400, 30, 80), new PixelRect(1000, 450, 30, 80)], _regions));
        var region = Assert.Single(_regions);
        Assert.Equal((416, 416), (region.Width, region.Height));

        // Further apart, but merged the region needs shrinking by at most 1.5: one run rather than two.
        Assert.Equal(RegionPlanKind.Regions, _planner.Plan(1920, 1080, 416, 416, [new PixelRect(700, 400, 30, 80), new PixelRect(1160, 450, 30, 80)], _regions));
        region = Assert.Single(_regions);
        Assert.InRange(RegionPlanner.ScaleOf(region, 416, 416), 1.0, 1.5);
    }

    [Fact]
    public void Too_many_regions_or_most_of_the_frame_fall_back_to_the_whole_frame()
    {
        PixelRect[] corners = [new(50, 50, 30, 80), new(1800, 50, 30, 80), new(50, 950, 30, 80), new(1800, 950, 30, 80)];
        Assert.Equal(RegionPlanKind.WholeFrame, _planner.Plan(1920, 1080, 416, 416, corners, _regions));
        Assert.Equal([new PixelRect(0, 0, 1920, 1080)], _regions);

        // 768x576: two people at either side need two 416x416 crops, 78% of the frame. One run of the frame instead.
        Assert.Equal(RegionPlanKind.WholeFrame, _planner.Plan(768, 576, 416, 416, [new PixelRect(20, 200, 30, 80), new PixelRect(700, 250, 30, 80)], _regions));
        Assert.Equal([new PixelRect(0, 0, 768, 576)], _regions);
    }

    [Fact]
    public void No_seeds_plan_nothing_and_a_frame_smaller_than_the_input_is_detected_whole()
    {
        Assert.Equal(RegionPlanKind.None, _planner.Plan(1920, 1080, 416, 416, [], _regions));
        Assert.Empty(_regions);
        Assert.Equal(RegionPlanKind.WholeFrame, _planner.Plan(320, 240, 416, 416, [new PixelRect(10, 10, 20, 20)], _regions));
    }

    [Fact]
    public void Every_seed_lies_in_a_region_inside_the_frame()
    {
        var random = new Random(11);
        for (var trial = 0; trial < 500; trial++)
        {
            var (width, height) = (random.Next(200, 2600), random.Next(200, 1500));
            var seeds = Enumerable.Range(0, random.Next(1, 8)).Select(_ =>
            {
                var (w, h) = (random.Next(4, 300), random.Next(4, 300));
                return new PixelRect(random.Next(-50, width), random.Next(-50, height), w, h);
            }).ToArray();

            var kind = _planner.Plan(width, height, 416, 320, seeds, _regions);

            Assert.NotEqual(RegionPlanKind.None, kind);
            var frame = new PixelRect(0, 0, width, height);
            Assert.All(_regions, region => Assert.True(frame.Contains(region) && !region.IsEmpty, $"{region} outside {frame}"));
            Assert.All(seeds, seed =>
            {
                var visible = seed.ClampTo(width, height);
                Assert.True(visible.IsEmpty || _regions.Exists(region => region.Contains(visible)), $"seed {seed} in no region of {width}x{height}");
            });
        }
    }

    [Fact]
    public void Region_boxes_map_to_frame_pixels_and_back_exactly()
    {
        // Coordinates in 1/64 pixel below 8192 need at most 19 bits: a float holds them, and their sums with whole-pixel
        // corners, exactly. The mapping must add the corner and nothing else.
        var random = new Random(5);
        for (var i = 0; i < 10_000; i++)
        {
            var region = new PixelRect(random.Next(0, 4096), random.Next(0, 4096), 416, 416);
            var local = new Detection(random.Next(80), (float)random.NextDouble(),
                random.Next(0, 416 * 64) / 64f, random.Next(0, 416 * 64) / 64f, random.Next(0, 416 * 64) / 64f, random.Next(0, 416 * 64) / 64f);

            var inFrame = RegionMapping.ToFrame(local, region);

            Assert.Equal((double)local.X1 + region.X, inFrame.X1);
            Assert.Equal((double)local.Y1 + region.Y, inFrame.Y1);
            Assert.Equal((double)local.X2 + region.X, inFrame.X2);
            Assert.Equal((double)local.Y2 + region.Y, inFrame.Y2);
            Assert.Equal((local.ClassId, local.Score), (inFrame.ClassId, inFrame.Score));
            Assert.Equal(local, RegionMapping.ToRegion(inFrame, region));
        }
    }

    [Fact]
    public void A_box_touching_an_inner_region_edge_is_cut_and_one_at_the_frame_edge_is_not()
    {
        var region = new PixelRect(100, 50, 416, 416);
        List<Detection> kept = [];

        var cut = RegionMapping.AddFromRegion(
            [
                new Detection(0, 0.9f, 0, 100, 40, 200),      // at the region's left edge, inside the frame: cut
                new Detection(0, 0.9f, 200, 100, 240, 200),   // inside: kept
                new Detection(0, 0.9f, 300, 300, 416, 416),   // at the right and bottom edges, inside the frame: cut
            ],
            region, 1920, 1080, kept);
        Assert.Equal(2, cut);
        Assert.Equal([new Detection(0, 0.9f, 300, 150, 340, 250)], kept);

        // The same region flush with the frame's top-left corner: those edges are the frame's, nothing runs past them.
        kept.Clear();
        Assert.Equal(0, RegionMapping.AddFromRegion([new Detection(0, 0.9f, 0, 0, 40, 100)], new PixelRect(0, 0, 416, 416), 1920, 1080, kept));
        Assert.Single(kept);
    }

    [Fact]
    public void Tiles_cover_the_frame_at_input_size_with_at_least_the_overlap_asked_for()
    {
        var tiles = new List<PixelRect>();
        TilePlanner.Plan(1920, 1080, 416, 416, 0.25f, tiles);

        Assert.All(tiles, tile => Assert.Equal((416, 416), (tile.Width, tile.Height)));
        for (var y = 0; y < 1080; y += 7)
        {
            for (var x = 0; x < 1920; x += 7)
            {
                Assert.True(tiles.Exists(tile => tile.Contains(x + 0.5f, y + 0.5f)), $"({x}, {y}) in no tile");
            }
        }

        var xs = tiles.Select(tile => tile.X).Distinct().Order().ToList();
        Assert.All(xs.Zip(xs.Skip(1)), pair => Assert.True(pair.Second - pair.First <= 416 * 0.75, $"tiles at x {pair.First} and {pair.Second} overlap too little"));
        Assert.Equal((6, 4), (xs.Count, tiles.Count / xs.Count));

        TilePlanner.Plan(640, 480, 416, 416, 0.25f, tiles);
        Assert.Equal([new PixelRect(0, 0, 416, 416), new PixelRect(224, 0, 416, 416), new PixelRect(0, 64, 416, 416), new PixelRect(224, 64, 416, 416)], tiles);

        TilePlanner.Plan(400, 300, 416, 416, 0.25f, tiles);
        Assert.Empty(tiles);
    }
}
