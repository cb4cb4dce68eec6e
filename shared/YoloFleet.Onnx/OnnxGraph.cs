using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx;

/// <summary>Read-only questions about a <see cref="GraphProto"/>: which values are constant, and in what order nodes can run.</summary>
public static class OnnxGraph
{
    /// <summary>The names of the graph's initializers (its constant tensors).</summary>
    public static HashSet<string> InitializerNames(GraphProto graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        return graph.Initializer.Select(initializer => initializer.Name).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>
    /// The graph's nodes ordered so that every node's inputs come from graph inputs, initializers or nodes before it.
    /// Nodes already in a valid order keep it (Kahn's algorithm, taking ready nodes in file order).
    /// </summary>
    /// <exception cref="InvalidOperationException">A node reads a value nothing produces, or nodes depend on each other in a cycle.</exception>
    public static IReadOnlyList<NodeProto> TopologicalOrder(GraphProto graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var available = InitializerNames(graph);
        available.UnionWith(graph.Input.Select(input => input.Name));

        var producers = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var index = 0; index < graph.Node.Count; index++)
        {
            foreach (var output in graph.Node[index].Output.Where(output => output.Length > 0))
            {
                if (!producers.TryAdd(output, index))
                {
                    throw new InvalidOperationException(
                        $"Value '{output}' is produced by two nodes, {Describe(graph.Node[producers[output]])} and {Describe(graph.Node[index])}; ONNX values have one producer.");
                }
            }
        }

        var waitingOn = new int[graph.Node.Count];
        var consumers = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (var index = 0; index < graph.Node.Count; index++)
        {
            var node = graph.Node[index];

            // An empty name marks an optional input left out. Subgraph (If/Loop body) reads of outer values are not
            // followed: the models this project handles have none, and the node still runs after its direct inputs.
            foreach (var input in node.Input.Where(input => input.Length > 0 && !available.Contains(input)).Distinct(StringComparer.Ordinal))
            {
                if (!producers.ContainsKey(input))
                {
                    throw new InvalidOperationException(
                        $"Node {Describe(node)} reads '{input}', which is not a graph input, an initializer or any node's output.");
                }

                waitingOn[index]++;
                if (!consumers.TryGetValue(input, out var list))
                {
                    consumers[input] = list = [];
                }

                list.Add(index);
            }
        }

        // A sorted set of ready indices keeps the original order wherever the dependencies allow it.
        var ready = new SortedSet<int>(Enumerable.Range(0, graph.Node.Count).Where(index => waitingOn[index] == 0));
        var ordered = new List<NodeProto>(graph.Node.Count);
        while (ready.Count > 0)
        {
            var index = ready.Min;
            ready.Remove(index);
            var node = graph.Node[index];
            ordered.Add(node);
            foreach (var output in node.Output)
            {
                if (!consumers.TryGetValue(output, out var waiting))
                {
                    continue;
                }

                foreach (var consumer in waiting)
                {
                    if (--waitingOn[consumer] == 0)
                    {
                        ready.Add(consumer);
                    }
                }
            }
        }

        if (ordered.Count < graph.Node.Count)
        {
            var stuck = Enumerable.Range(0, graph.Node.Count).Where(index => waitingOn[index] > 0).Select(index => Describe(graph.Node[index]));
            throw new InvalidOperationException(
                $"The graph has a cycle: {graph.Node.Count - ordered.Count} node(s) wait on each other and can never run: {string.Join(", ", stuck.Take(10))}.");
        }

        return ordered;
    }

    private static string Describe(NodeProto node) =>
        string.IsNullOrEmpty(node.Name) ? $"'{node.OpType}' (unnamed, output '{node.Output.FirstOrDefault()}')" : $"'{node.Name}' ({node.OpType})";
}
