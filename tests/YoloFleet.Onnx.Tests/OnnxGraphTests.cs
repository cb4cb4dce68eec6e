using YoloFleet.Inference;
using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx.Tests;

public sealed class OnnxGraphTests
{
    [Theory]
    [InlineData("yolox_nano", "yolox_nano_416.onnx")]
    [InlineData("picodet_s", "picodet_s_320_coco.onnx")]
    [InlineData("picodet_s", "picodet_s_416_coco.onnx")]
    public void Topological_order_of_a_real_model_runs_every_node_after_its_inputs(string folder, string file)
    {
        var graph = OnnxModelFile.Load(SharedData.Path("models", folder, file)).Graph;

        var ordered = OnnxGraph.TopologicalOrder(graph);

        Assert.Equal(graph.Node.Count, ordered.Count);
        Assert.Equal(graph.Node.Count, ordered.Distinct().Count());
        AssertValidOrder(graph, ordered);
    }

    [Fact]
    public void Topological_order_repairs_shuffled_nodes()
    {
        var graph = OnnxModelFile.Load(SharedData.YoloxNano416).Graph;
        var shuffled = graph.Clone();
        var nodes = shuffled.Node.ToArray();
        new Random(7).Shuffle(nodes);
        shuffled.Node.Clear();
        shuffled.Node.AddRange(nodes);

        var ordered = OnnxGraph.TopologicalOrder(shuffled);

        Assert.Equal(graph.Node.Count, ordered.Count);
        AssertValidOrder(shuffled, ordered);
    }

    [Fact]
    public void Topological_order_of_a_graph_already_in_order_keeps_it()
    {
        var graph = OnnxModelFile.Load(SharedData.PicoDetS320).Graph;

        Assert.Equal(graph.Node, OnnxGraph.TopologicalOrder(graph));
    }

    [Fact]
    public void A_cycle_is_reported_with_the_nodes_in_it()
    {
        var graph = new GraphProto { Input = { new ValueInfoProto { Name = "x" } } };
        graph.Node.Add(Node("first", "Add", ["x", "c"], ["a"]));
        graph.Node.Add(Node("second", "Relu", ["a"], ["b"]));
        graph.Node.Add(Node("third", "Relu", ["b"], ["c"]));

        var exception = Assert.Throws<InvalidOperationException>(() => OnnxGraph.TopologicalOrder(graph));

        Assert.Contains("cycle", exception.Message, StringComparison.Ordinal);
        Assert.Contains("'first'", exception.Message, StringComparison.Ordinal);
        Assert.Contains("'third'", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_input_nothing_produces_is_reported_by_name()
    {
        var graph = new GraphProto { Input = { new ValueInfoProto { Name = "x" } } };
        graph.Node.Add(Node("add", "Add", ["x", "ghost"], ["y"]));

        var exception = Assert.Throws<InvalidOperationException>(() => OnnxGraph.TopologicalOrder(graph));

        Assert.Contains("'ghost'", exception.Message, StringComparison.Ordinal);
        Assert.Contains("'add'", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Initializer_names_are_the_constant_tensors()
    {
        var graph = OnnxModelFile.Load(SharedData.YoloxNano416).Graph;

        var names = OnnxGraph.InitializerNames(graph);

        Assert.Equal(graph.Initializer.Count, names.Count);
        Assert.DoesNotContain("images", names);
    }

    private static NodeProto Node(string name, string opType, string[] inputs, string[] outputs) =>
        new() { Name = name, OpType = opType, Input = { inputs }, Output = { outputs } };

    private static void AssertValidOrder(GraphProto graph, IReadOnlyList<NodeProto> ordered)
    {
        var available = OnnxGraph.InitializerNames(graph);
        available.UnionWith(graph.Input.Select(input => input.Name));
        foreach (var node in ordered)
        {
            foreach (var input in node.Input.Where(input => input.Length > 0))
            {
                Assert.True(available.Contains(input), $"node '{node.Name}' ({node.OpType}) runs before '{input}' exists");
            }

            available.UnionWith(node.Output);
        }
    }
}
