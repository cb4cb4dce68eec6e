using System.Text;
using Google.Protobuf;
using YoloFleet.Inference;
using YoloFleet.Onnx.Profiling;
using YoloFleet.Onnx.Quantization;
using YoloFleet.Onnx.Tests.Quantization;

namespace YoloFleet.Onnx.Tests.Profiling;

public sealed class OperatorProfilerTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("yolofleet-profile-test-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Kernel_times_are_summed_per_run_by_operator_and_mapped_back_to_the_models_convolutions()
    {
        // Runtime names as ONNX Runtime writes them: the QDQ-fused stem keeps its name (plus the layout transformer's
        // token), the NCHWc depthwise is named after its output, the fused pointwise after its activation's output.
        var model = SyntheticModels.ConvBlock();
        var graph = model.Graph;
        var depthwiseOutput = graph.Node.Single(node => node.Name == "depthwise").Output[0];
        var events = new[]
        {
            Event("stem_token_7", "QLinearConv", 300),
            Event("stem_token_7", "QLinearConv", 100),
            Event(depthwiseOutput + "_nchwc", "Conv", 50),
            Event("pointwise", "FusedConv", 30),
            Event("hs_mul", "QLinearMul", 20),
            """{"cat":"Session","name":"model_run","dur":9999,"args":{}}""",
            """{"cat":"Node","name":"stem_token_7_fence_before","dur":5000,"args":{"op_name":"QLinearConv"}}""",
        };
        using var json = new MemoryStream(Encoding.UTF8.GetBytes("[" + string.Join(",", events) + "]"));

        var profile = OperatorProfiler.Parse(json, model, runs: 2);

        Assert.Equal(0.2, Assert.Single(profile.Operators, op => op.OpType == "QLinearConv").MillisecondsPerRun, 9);
        Assert.Equal(1, profile.Operators.Single(op => op.OpType == "QLinearConv").Nodes);
        Assert.Equal(0.25, profile.KernelMillisecondsPerRun, 9);
        Assert.Equal("QLinearConv", profile.Operators[0].OpType);
        Assert.Equal(0.2, profile.Convolutions.Single(kind => kind.Kind == "dense kxk").MillisecondsPerRun, 9);
        Assert.Equal(0.025, profile.Convolutions.Single(kind => kind.Kind == "depthwise").MillisecondsPerRun, 9);
        Assert.Equal(0.015, profile.Convolutions.Single(kind => kind.Kind == "pointwise 1x1").MillisecondsPerRun, 9);
        Assert.DoesNotContain(profile.Operators, op => op.OpType == "Session");
    }

    [Fact]
    public void A_float_model_and_its_int8_version_are_profiled_with_every_convolution_found_by_kind()
    {
        var fp32 = SyntheticModels.ConvBlock(channels: 16);
        var int8 = ModelQuantizer.Quantize(fp32, new InMemoryCalibrationSet(SyntheticModels.Inputs(4), "synthetic"),
            new QuantizerOptions { AutoExclude = false, ComparisonSamples = 1 }).Model;
        var fp32Path = Path.Combine(_folder, "fp32.onnx");
        var int8Path = Path.Combine(_folder, "int8.onnx");
        File.WriteAllBytes(fp32Path, fp32.ToByteArray());
        File.WriteAllBytes(int8Path, int8.ToByteArray());
        var options = new DetectorOptions { IntraOpThreads = 1, LogLevel = OnnxRuntimeLogLevel.Error };

        // Profiled in turn, one run of each, in one call.
        var profiles = OperatorProfiler.Profile([fp32Path, int8Path], options, runs: 3, warmup: 1);
        Assert.Equal(["fp32.onnx", "int8.onnx"], profiles.Select(profile => profile.Model));
        var (floatProfile, integerProfile) = (profiles[0], profiles[1]);

        // The synthetic block has a dense 3x3 stem, a depthwise 3x3 and two 1x1 convolutions, found under whatever
        // names the runtime's fusions gave them; in the INT8 model the head (decode tail) is a float Conv whose
        // weight the runtime folded from int8.
        foreach (var profile in new[] { floatProfile, integerProfile })
        {
            Assert.Equal(3, profile.Runs);
            Assert.Equal(1, profile.Convolutions.Single(kind => kind.Kind == "dense kxk").Nodes);
            Assert.Equal(1, profile.Convolutions.Single(kind => kind.Kind == "depthwise").Nodes);
            Assert.Equal(2, profile.Convolutions.Single(kind => kind.Kind == "pointwise 1x1").Nodes);
            Assert.True(profile.KernelMillisecondsPerRun > 0);
            Assert.Equal(profile.Operators.Sum(op => op.MillisecondsPerRun), profile.KernelMillisecondsPerRun, 9);
            Assert.Contains("wall", profile.ToTable(), StringComparison.Ordinal);
        }

        Assert.Equal(3, integerProfile.Operators.Single(op => op.OpType == "QLinearConv").Nodes);
        Assert.DoesNotContain(floatProfile.Operators, op => op.OpType.StartsWith("QLinear", StringComparison.Ordinal));
        // The runtime's profile files went to a temporary folder, which is gone.
        Assert.Empty(Directory.GetFiles(Directory.GetCurrentDirectory(), "onnxruntime_profile_*"));
    }

    [Fact]
    public void Weights_listed_as_graph_inputs_are_removed_before_profiling_and_counted()
    {
        // As PicoDet's export does: every weight is also a graph input, which keeps the runtime from folding them.
        var model = SyntheticModels.ConvBlock();
        foreach (var weight in model.Graph.Initializer.Where(tensor => tensor.Name.EndsWith(".weight", StringComparison.Ordinal)).ToList())
        {
            model.Graph.Input.Add(new Protos.ValueInfoProto
            {
                Name = weight.Name,
                Type = new Protos.TypeProto { TensorType = new Protos.TypeProto.Types.Tensor { ElemType = weight.DataType } },
            });
        }

        var path = Path.Combine(_folder, "weights-as-inputs.onnx");
        File.WriteAllBytes(path, model.ToByteArray());

        var profile = OperatorProfiler.Profile(path, new DetectorOptions { IntraOpThreads = 1, LogLevel = OnnxRuntimeLogLevel.Error }, runs: 1, warmup: 0);

        Assert.Equal(4, profile.InitializerInputsRemoved);
        Assert.Contains("4 initializers listed as graph inputs were removed", profile.ToTable(), StringComparison.Ordinal);
        Assert.Equal(4, profile.Convolutions.Sum(kind => kind.Nodes));
    }

    [Fact]
    public void A_model_with_dynamic_spatial_dimensions_is_refused_with_the_reason()
    {
        var model = SyntheticModels.ConvBlock();
        var shape = model.Graph.Input[0].Type.TensorType.Shape;
        shape.Dim[2] = new Protos.TensorShapeProto.Types.Dimension { DimParam = "height" };
        var path = Path.Combine(_folder, "dynamic.onnx");
        File.WriteAllBytes(path, model.ToByteArray());

        var error = Assert.Throws<ArgumentException>(() => OperatorProfiler.Profile(path, new DetectorOptions { IntraOpThreads = 1 }, runs: 1));

        Assert.Contains("dynamic dimensions", error.Message, StringComparison.Ordinal);
    }

    private static string Event(string node, string op, double microseconds) =>
        $$$"""{"cat":"Node","name":"{{{node}}}_kernel_time","dur":{{{microseconds}}},"args":{"op_name":"{{{op}}}"}}""";
}
