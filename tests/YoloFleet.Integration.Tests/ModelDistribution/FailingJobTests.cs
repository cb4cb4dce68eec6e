using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using YoloFleet.Onnx;
using YoloFleet.Onnx.Protos;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Integration.Tests.ModelDistribution;

/// <summary>
/// A job that cannot succeed ends "failed" with the quantizer's reason on its row, stores nothing, and asking again
/// runs it again rather than answering with the old failure. The model is built here: a valid YOLOX-shaped detector
/// (the registry accepts it) with no Conv, Gemm or MatMul to quantize.
/// </summary>
[Collection(ModelDistributionCollection.Name)]
[Trait("Category", "ModelDistribution")]
public sealed class FailingJobTests(ModelDistributionFleet fixture)
{
    [Fact]
    public async Task A_model_the_quantizer_refuses_fails_its_job_with_the_reason_and_a_retry_runs_again()
    {
        var folder = Directory.CreateTempSubdirectory("yolofleet-failing-job-");
        try
        {
            var path = Path.Combine(folder.FullName, "constant_head.onnx");
            OnnxModelFile.Save(ConstantYoloxHead(), path);
            var manifest = JsonSerializer.Serialize(new { schemaVersion = 1, name = "constant-head", version = "1", layout = "yolox", classNames = new[] { "a", "b" } });
            var version = await ModelDistributionFleet.ReadJsonAsync(await fixture.UploadAsync(path, manifest), HttpStatusCode.Created);
            var quantize = ModelDistributionFleet.Url($"api/models/constant-head/{version.GetProperty("version").GetInt32()}/quantize");

            using var submitted = await fixture.Http.PostAsync(quantize, null);
            var job = await ModelDistributionFleet.ReadJsonAsync(submitted, HttpStatusCode.Accepted);
            var failed = await WaitUntilFinishedAsync(job.GetProperty("id").GetInt64());

            Assert.Equal("failed", failed.GetProperty("state").GetString());
            Assert.Contains("Conv", failed.GetProperty("error").GetString(), StringComparison.Ordinal);
            Assert.Equal(JsonValueKind.Null, failed.GetProperty("result").ValueKind);
            Assert.Empty(await fixture.QueryAsync("SELECT id FROM models WHERE name = 'constant-head' AND format = 'int8'", r => r.GetInt64(0)));

            // Asked again: the same job (same inputs), queued again, and it fails again for the same reason.
            using var again = await fixture.Http.PostAsync(quantize, null);
            var retried = await ModelDistributionFleet.ReadJsonAsync(again, HttpStatusCode.Accepted);
            Assert.Equal(job.GetProperty("id").GetInt64(), retried.GetProperty("id").GetInt64());
            Assert.Equal("failed", (await WaitUntilFinishedAsync(retried.GetProperty("id").GetInt64())).GetProperty("state").GetString());
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private async Task<JsonElement> WaitUntilFinishedAsync(long id) =>
        await Infrastructure.Poll.UntilAsync(
            () => fixture.Http.GetFromJsonAsync<JsonElement>(ModelDistributionFleet.Url($"api/jobs/{id}")),
            job => job.GetProperty("state").GetString() is "succeeded" or "failed",
            TimeSpan.FromMinutes(2));

    /// <summary>Input [1,3,32,32]; output a constant [1,21,7]: YOLOX rows for 21 cells (strides 8, 16, 32) and 2 classes.</summary>
    private static ModelProto ConstantYoloxHead()
    {
        var graph = new GraphProto { Name = "constant-head" };
        graph.Input.Add(ValueInfo("images", 1, 3, 32, 32));
        graph.Output.Add(ValueInfo("output", 1, 21, 7));
        var node = new NodeProto { OpType = "Constant", Name = "head" };
        node.Output.Add("output");
        node.Attribute.Add(new AttributeProto
        {
            Name = "value",
            Type = AttributeProto.Types.AttributeType.Tensor,
            T = OnnxTensors.Float("head_value", [1, 21, 7], new float[21 * 7]),
        });
        graph.Node.Add(node);
        var model = new ModelProto { IrVersion = 7, ProducerName = "YoloFleet tests", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return model;
    }

    private static ValueInfoProto ValueInfo(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.AddRange(dims.Select(dimension => new TensorShapeProto.Types.Dimension { DimValue = dimension }));
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }
}
