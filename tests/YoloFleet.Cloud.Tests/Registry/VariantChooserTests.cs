using YoloFleet.Cloud.Registry.Assignments;

namespace YoloFleet.Cloud.Tests.Registry;

/// <summary>INT8 only where the device measured it faster, by the configured margin, in comparable conditions.</summary>
public sealed class VariantChooserTests
{
    private static readonly string Fp32 = new('a', 64);
    private static readonly string Int8 = new('b', 64);

    private static BenchmarkFigure Figure(string sha, string precision, float p50, bool throttled = false) => new(sha, precision, p50, p50 * 1.2f, 20, throttled);

    [Fact]
    public void Int8_measured_faster_by_the_margin_is_chosen_and_the_reason_carries_the_figures()
    {
        var decision = VariantChooser.Choose(Fp32, Int8, [Figure(Fp32, "fp32", 20f), Figure(Int8, "int8", 15f)], 0.05);

        Assert.Equal((Int8, "int8"), (decision.ChosenSha256, decision.ChosenPrecision));
        Assert.Equal((20f, 15f), (decision.Fp32P50Ms, decision.Int8P50Ms));
        Assert.Contains("INT8 measured faster", decision.Reason, StringComparison.Ordinal);
        Assert.Contains("15.0 ms", decision.Reason, StringComparison.Ordinal);
        Assert.Contains("0.75", decision.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(19.5f)]  // faster, but within the 5 % margin
    [InlineData(20f)]
    [InlineData(26f)]    // slower, as YOLOX-Nano's INT8 is on some CPUs
    public void Int8_that_is_not_faster_enough_leaves_fp32(float int8P50)
    {
        var decision = VariantChooser.Choose(Fp32, Int8, [Figure(Fp32, "fp32", 20f), Figure(Int8, "int8", int8P50)], 0.05);

        Assert.Equal((Fp32, "fp32"), (decision.ChosenSha256, decision.ChosenPrecision));
        Assert.Contains("not measured faster enough", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Figures_from_different_throttle_states_are_not_compared()
    {
        var decision = VariantChooser.Choose(Fp32, Int8, [Figure(Fp32, "fp32", 40f, throttled: true), Figure(Int8, "int8", 10f)], 0.05);

        Assert.Equal(Fp32, decision.ChosenSha256);
        Assert.Contains("not comparable", decision.Reason, StringComparison.Ordinal);

        var bothThrottled = VariantChooser.Choose(Fp32, Int8, [Figure(Fp32, "fp32", 40f, true), Figure(Int8, "int8", 10f, true)], 0.05);
        Assert.Equal(Int8, bothThrottled.ChosenSha256);
        Assert.Contains("both throttled", bothThrottled.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_figure_or_a_single_variant_keeps_fp32()
    {
        var missing = VariantChooser.Choose(Fp32, Int8, [Figure(Fp32, "fp32", 20f)], 0.05);
        var single = VariantChooser.Choose(Fp32, null, [], 0.05);

        Assert.Equal(Fp32, missing.ChosenSha256);
        Assert.Contains("no latency figure for INT8", missing.Reason, StringComparison.Ordinal);
        Assert.Equal(Fp32, single.ChosenSha256);
        Assert.Contains("only an FP32 variant", single.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_device_that_ran_int8_alone_gets_int8_because_it_refused_fp32()
    {
        var decision = VariantChooser.Choose(Fp32, Int8, [Figure(Int8, "int8", 31f)], 0.05);

        Assert.Equal((Int8, "int8", (float?)null, (float?)31f), (decision.ChosenSha256, decision.ChosenPrecision, decision.Fp32P50Ms, decision.Int8P50Ms));
        Assert.Contains("only INT8 ran on this device", decision.Reason, StringComparison.Ordinal);
    }
}
