using OpenCvSharp;
using YoloFleet.Inference.Evaluation;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests.Evaluation;

/// <summary>The YOLO-text and COCO-JSON ground-truth readers on small files made here, and on coco128's own.</summary>
public sealed class GroundTruthReaderTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Yolo_labels_become_pixel_boxes_and_an_image_without_a_label_file_has_none()
    {
        var images = MakeImages(("a.jpg", 200, 100), ("b.png", 64, 48));
        var labels = Directory.CreateDirectory(_temp.File("labels")).FullName;
        File.WriteAllText(Path.Combine(labels, "a.txt"), "3 0.5 0.5 0.5 0.5\n\n12 0.25 0.75 0.1 0.2\n");

        var source = YoloLabelGroundTruth.Open(images);

        Assert.Equal(labels, source.LabelFolder);
        Assert.Equal(["a", "b"], source.Images.Select(image => image.Key));
        var a = source.Read(source.Images[0]);
        Assert.Equal(2, a.Count);
        AssertBox(new GroundTruthBox(3, 50, 25, 150, 75), a[0]);
        AssertBox(new GroundTruthBox(12, 40, 65, 60, 85), a[1]);
        Assert.All(a, box => Assert.False(box.IsCrowd));
        Assert.Empty(source.Read(source.Images[1]));
        // The size passed in is the one used (the decoded image's, in an evaluation).
        AssertBox(new GroundTruthBox(3, 100, 50, 300, 150), source.Read(source.Images[0], 400, 200)[0]);
    }

    [Fact]
    public void Without_leaves_out_the_named_images_and_reads_the_rest_unchanged()
    {
        var images = MakeImages(("a.jpg", 200, 100), ("b.png", 64, 48), ("c.jpg", 32, 32));
        var labels = Directory.CreateDirectory(_temp.File("labels")).FullName;
        File.WriteAllText(Path.Combine(labels, "c.txt"), "7 0.5 0.5 0.5 0.5\n");
        var source = YoloLabelGroundTruth.Open(images);

        // Relative and absolute paths name the same file.
        var heldOut = source.Without([Path.Combine(images, "a.jpg"), Path.GetRelativePath(Environment.CurrentDirectory, Path.Combine(images, "b.png"))]);

        Assert.Equal(["c"], heldOut.Images.Select(image => image.Key));
        AssertBox(new GroundTruthBox(7, 8, 8, 24, 24), Assert.Single(heldOut.Read(heldOut.Images[0])));
        Assert.Contains("2 images left out", heldOut.Description, StringComparison.Ordinal);
        Assert.Equal(3, source.Images.Count);
        Assert.Empty(source.Without([]).Images.Except(source.Images));
    }

    [Theory]
    [InlineData("3 0.5 0.5 0.5")]
    [InlineData("3 0.5 0.5 0.5 0.5 0.9")]
    [InlineData("-1 0.5 0.5 0.5 0.5")]
    [InlineData("car 0.5 0.5 0.5 0.5")]
    [InlineData("3 0.5 0.5 -0.5 0.5")]
    [InlineData("3 0,5 0.5 0.5 0.5")]
    public void A_malformed_yolo_line_is_reported_with_file_and_line(string badLine)
    {
        var path = _temp.Write("bad.txt", "0 0.5 0.5 0.2 0.2\n" + badLine + "\n");

        var error = Assert.Throws<InvalidDataException>(() => YoloLabelGroundTruth.ParseFile(path, 100, 100));

        Assert.Contains($"{path}:2:", error.Message);
        Assert.Contains(badLine, error.Message);
    }

    [Fact]
    public void Yolo_source_fails_clearly_without_labels_or_images()
    {
        var images = MakeImages(("a.jpg", 32, 32));
        var missingLabels = Assert.Throws<DirectoryNotFoundException>(() => YoloLabelGroundTruth.Open(images));
        Assert.Contains(_temp.File("labels"), missingLabels.Message);

        // No images is the first thing to fix, with or without labels.
        var empty = Directory.CreateDirectory(_temp.File("empty")).FullName;
        Assert.Contains("No images", Assert.Throws<InvalidDataException>(() => YoloLabelGroundTruth.Open(empty, labelFolder: _temp.Path)).Message);
        Assert.Contains("No images", Assert.Throws<InvalidDataException>(() => YoloLabelGroundTruth.Open(empty, labelFolder: _temp.File("nolabels"))).Message);
        Assert.Throws<DirectoryNotFoundException>(() => YoloLabelGroundTruth.Open(_temp.File("nowhere")));
    }

    [Fact]
    public void Coco_json_maps_sparse_category_ids_to_contiguous_classes_by_rank()
    {
        var images = MakeImages(("x.jpg", 640, 480), ("y.jpg", 320, 240));
        // Categories out of order and sparse: 90 -> class 2, 1 -> class 0, 18 -> class 1. Image ids out of order too.
        var annotations = _temp.Write("instances.json", """
            {
              "info": {"description": "test"},
              "images": [
                {"id": 42, "file_name": "y.jpg", "width": 320, "height": 240, "license": 1},
                {"id": 7, "file_name": "x.jpg", "width": 640, "height": 480}
              ],
              "annotations": [
                {"id": 1, "image_id": 7, "category_id": 90, "bbox": [10.5, 20, 30, 40.25], "area": 1207.5, "iscrowd": 0, "segmentation": [[1, 2, 3, 4]]},
                {"id": 2, "image_id": 7, "category_id": 1, "bbox": [0, 0, 100, 50], "iscrowd": 1, "segmentation": {"counts": [1, 2], "size": [480, 640]}},
                {"id": 3, "image_id": 42, "category_id": 18, "bbox": [5, 6, 7, 8]}
              ],
              "categories": [
                {"id": 90, "name": "toothbrush"}, {"id": 1, "name": "person"}, {"id": 18, "name": "dog"}
              ]
            }
            """);

        var source = CocoJsonGroundTruth.Open(images, annotations);

        Assert.Equal([1, 18, 90], source.CategoryIds);
        Assert.Equal(["person", "dog", "toothbrush"], source.CategoryNames);
        Assert.Equal(2, source.ClassIdOf(90));
        Assert.Throws<KeyNotFoundException>(() => source.ClassIdOf(2));
        Assert.Equal((3, 1), (source.AnnotationCount, source.CrowdCount));
        Assert.Equal(["7", "42"], source.Images.Select(image => image.Key));
        Assert.Equal(Path.Combine(images, "x.jpg"), source.Images[0].Path);

        var x = source.Read(source.Images[0], 640, 480);
        Assert.Equal(2, x.Count);
        AssertBox(new GroundTruthBox(2, 10.5, 20, 40.5, 60.25), x[0]);
        AssertBox(new GroundTruthBox(0, 0, 0, 100, 50, IsCrowd: true), x[1]);
        AssertBox(new GroundTruthBox(1, 5, 6, 12, 14), Assert.Single(source.Read(source.Images[1])));
    }

    [Fact]
    [Trait("Category", "Scene")]
    public void Coco_json_area_is_the_annotations_and_else_the_boxes()
    {
        var images = MakeImages(("x.jpg", 64, 64));
        var annotations = _temp.Write("instances.json", """
            {"images": [{"id": 1, "file_name": "x.jpg", "width": 64, "height": 64}],
             "annotations": [
               {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "area": 900.5},
               {"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 20]}
             ],
             "categories": [{"id": 1, "name": "person"}]}
            """);
        var source = CocoJsonGroundTruth.Open(images, annotations);

        var boxes = source.Read(source.Images[0], 64, 64);

        Assert.Equal([900.5, 200.0], boxes.Select(box => box.Area));
    }

    [Fact]
    public void Coco_json_refuses_an_image_whose_size_differs_from_the_annotations()
    {
        var images = MakeImages(("x.jpg", 64, 32));
        var annotations = _temp.Write("instances.json", """
            {"images": [{"id": 1, "file_name": "x.jpg", "width": 32, "height": 64}], "annotations": [], "categories": [{"id": 1, "name": "person"}]}
            """);
        var source = CocoJsonGroundTruth.Open(images, annotations);

        var error = Assert.Throws<InvalidDataException>(() => source.Read(source.Images[0], 64, 32));

        Assert.Contains("64x32", error.Message);
        Assert.Contains("32x64", error.Message);
    }

    [Theory]
    [InlineData("""{"images": [{"id": 1, "file_name": "x.jpg", "width": 8, "height": 8}], "annotations": [{"id": 5, "image_id": 1, "category_id": 3, "bbox": [0, 0, 1, 1]}], "categories": [{"id": 1, "name": "person"}]}""", "category id 3")]
    [InlineData("""{"images": [{"id": 1, "file_name": "x.jpg", "width": 8, "height": 8}], "annotations": [{"id": 5, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1]}], "categories": [{"id": 1, "name": "person"}]}""", "image id 2")]
    [InlineData("""{"images": [{"id": 1, "file_name": "x.jpg", "width": 8, "height": 8}], "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "area": -3}], "categories": [{"id": 1, "name": "person"}]}""", "area -3")]
    [InlineData("""{"images": [{"id": 1, "file_name": "x.jpg", "width": 8, "height": 8}], "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1]}], "categories": [{"id": 1, "name": "person"}]}""", "annotation 5")]
    [InlineData("""{"images": [{"id": 1, "file_name": "missing.jpg", "width": 8, "height": 8}], "annotations": [], "categories": [{"id": 1, "name": "person"}]}""", "missing.jpg")]
    [InlineData("""{"images": [], "annotations": [], "categories": [{"id": 1, "name": "person"}]}""", "no images")]
    [InlineData("""{"images": [{"id": 1, "file_name": "x.jpg", "width": 8, "height": 8}], "annotations": []}""", "no categories")]
    [InlineData("""{"images": [{"id": 1, "file_name": "x.jpg", "width": 8, "height": 8}""", "not COCO annotations JSON")]
    public void Coco_json_problems_are_named(string json, string expected)
    {
        var images = MakeImages(("x.jpg", 8, 8));
        var annotations = _temp.Write("instances.json", json);

        var error = Assert.Throws<InvalidDataException>(() => CocoJsonGroundTruth.Open(images, annotations));

        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Coco_json_missing_file_is_reported()
    {
        var images = MakeImages(("x.jpg", 8, 8));
        Assert.Throws<FileNotFoundException>(() => CocoJsonGroundTruth.Open(images, _temp.File("none.json")));
    }

    [Fact]
    public void Coco128_json_and_yolo_labels_agree_apart_from_the_crowd_regions()
    {
        var json = CocoJsonGroundTruth.Open(SharedData.Coco128Images, Coco128Annotations);
        var yolo = YoloLabelGroundTruth.Open(SharedData.Coco128Images);
        var names = File.ReadAllLines(SharedData.Path("datasets", "coco128", "coco80.names")).Where(line => line.Length > 0).ToArray();

        Assert.Equal(128, json.Images.Count);
        Assert.Equal(json.Images.Select(image => image.Path), yolo.Images.Select(image => image.Path));
        Assert.Equal((939, 10), (json.AnnotationCount, json.CrowdCount));
        Assert.Equal(80, json.CategoryIds.Count);
        Assert.Equal((1, 90), (json.CategoryIds[0], json.CategoryIds[^1]));
        Assert.Equal(names, json.CategoryNames);

        var regular = 0;
        for (var i = 0; i < json.Images.Count; i++)
        {
            var fromJson = json.Read(json.Images[i]).Where(box => !box.IsCrowd).ToList();
            var fromYolo = yolo.Read(yolo.Images[i]);
            Assert.Equal(fromJson.Count, fromYolo.Count);
            var unmatched = new List<GroundTruthBox>(fromJson);
            foreach (var box in fromYolo)
            {
                // YOLO labels keep 6 decimals of the normalised box: each has a same-class twin in the JSON well within a pixel.
                var twin = unmatched.Where(candidate => candidate.ClassId == box.ClassId).MinBy(candidate => Distance(candidate, box));
                Assert.True(twin.ClassId == box.ClassId && Distance(twin, box) < 0.05, $"{yolo.Images[i].Key}: no JSON box near {box}");
                unmatched.Remove(twin);
            }

            regular += fromJson.Count;
        }

        Assert.Equal(929, regular);
    }

    [Fact]
    public void Header_sizes_match_the_decoded_coco128_images_and_the_annotations()
    {
        var json = CocoJsonGroundTruth.Open(SharedData.Coco128Images, Coco128Annotations);
        foreach (var image in json.Images)
        {
            var size = ImageHeader.ReadSize(image.Path);
            using var decoded = ImageFile.Read(image.Path);
            Assert.Equal((decoded.Width, decoded.Height), size);
            // Read checks the decoded size against the annotations and throws on a mismatch.
            json.Read(image, decoded.Width, decoded.Height);
        }
    }

    [Fact]
    public void Header_size_of_png_and_bmp()
    {
        var folder = MakeImages(("p.png", 123, 45), ("b.bmp", 17, 9));

        Assert.Equal((123, 45), ImageHeader.ReadSize(Path.Combine(folder, "p.png")));
        Assert.Equal((17, 9), ImageHeader.ReadSize(Path.Combine(folder, "b.bmp")));
        Assert.Throws<ImageReadException>(() => ImageHeader.ReadSize(Path.Combine(folder, "none.jpg")));
    }

    internal static string Coco128Annotations => SharedData.Path("datasets", "coco128", "annotations", "instances_coco128_train2017.json");

    private string MakeImages(params (string Name, int Width, int Height)[] images)
    {
        var folder = Directory.CreateDirectory(_temp.File("images")).FullName;
        foreach (var (name, width, height) in images)
        {
            using var image = new Mat(height, width, MatType.CV_8UC3, Scalar.All(90));
            Assert.True(Cv2.ImWrite(Path.Combine(folder, name), image), name);
        }

        return folder;
    }

    private static double Distance(GroundTruthBox a, GroundTruthBox b) =>
        Math.Abs(a.X1 - b.X1) + Math.Abs(a.Y1 - b.Y1) + Math.Abs(a.X2 - b.X2) + Math.Abs(a.Y2 - b.Y2);

    private static void AssertBox(GroundTruthBox expected, GroundTruthBox actual)
    {
        Assert.Equal(expected.ClassId, actual.ClassId);
        Assert.Equal(expected.IsCrowd, actual.IsCrowd);
        Assert.Equal(expected.X1, actual.X1, 9);
        Assert.Equal(expected.Y1, actual.Y1, 9);
        Assert.Equal(expected.X2, actual.X2, 9);
        Assert.Equal(expected.Y2, actual.Y2, 9);
    }
}
