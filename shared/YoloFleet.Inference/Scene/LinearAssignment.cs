namespace YoloFleet.Inference.Scene;

/// <summary>
/// Minimum-cost assignment of rows to columns (the Hungarian method, in the shortest-augmenting-path form of Jonker
/// and Volgenant), with a cost limit: a pair costing more than the limit is never assigned, and leaving a row and a
/// column unassigned is preferred to any pair dearer than the limit. That is what ByteTrack's lapjv call with
/// cost_limit does; like it, the matrix is extended with dummy rows and columns at half the limit. Scratch buffers are
/// kept between calls. Not thread-safe.
/// </summary>
public sealed class LinearAssignment
{
    private double[] _square = [];
    private double[] _rowPotential = [];
    private double[] _columnPotential = [];
    private double[] _minimum = [];
    private int[] _rowOfColumn = [];
    private int[] _way = [];
    private bool[] _used = [];

    /// <summary>
    /// Assigns rows to columns. <paramref name="costs"/> is row-major, <paramref name="rows"/> x <paramref name="columns"/>;
    /// <paramref name="columnOfRow"/> receives each row's column, or -1 for a row left unassigned.
    /// </summary>
    /// <returns>How many rows were assigned.</returns>
    public int Solve(ReadOnlySpan<double> costs, int rows, int columns, double costLimit, Span<int> columnOfRow)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(columns);
        if (costs.Length < rows * columns)
        {
            throw new ArgumentException($"A {rows}x{columns} cost matrix needs {rows * columns} values; got {costs.Length}.", nameof(costs));
        }

        if (columnOfRow.Length < rows)
        {
            throw new ArgumentException($"The result needs room for {rows} rows; it has {columnOfRow.Length}.", nameof(columnOfRow));
        }

        if (!(costLimit > 0) || !double.IsFinite(costLimit))
        {
            throw new ArgumentOutOfRangeException(nameof(costLimit), costLimit, "The cost limit must be a finite number above 0.");
        }

        columnOfRow[..rows].Fill(-1);
        if (rows == 0 || columns == 0)
        {
            return 0;
        }

        // Extended to (rows + columns) square: real costs top-left, limit / 2 to leave a row (top-right) or a column
        // (bottom-left) unassigned, 0 for dummy-to-dummy. A pair dearer than the limit loses to leaving both out.
        var size = rows + columns;
        EnsureCapacity(size);
        var square = _square.AsSpan(0, size * size);
        var half = costLimit / 2;
        square.Fill(half);
        for (var row = 0; row < rows; row++)
        {
            for (var column = 0; column < columns; column++)
            {
                var cost = costs[row * columns + column];
                // Forbidden pairs (NaN, infinity) become dearer than any assignment that leaves them out.
                square[row * size + column] = double.IsFinite(cost) ? Math.Min(cost, costLimit * 4) : costLimit * 4;
            }
        }

        for (var row = rows; row < size; row++)
        {
            square.Slice(row * size + columns, rows).Clear();
        }

        Hungarian(square, size);

        var assigned = 0;
        for (var column = 1; column <= size; column++)
        {
            var row = _rowOfColumn[column] - 1;
            var realColumn = column - 1;
            if (row < rows && realColumn < columns && costs[row * columns + realColumn] <= costLimit)
            {
                columnOfRow[row] = realColumn;
                assigned++;
            }
        }

        return assigned;
    }

    /// <summary>The O(n³) Hungarian method on an n x n matrix; 1-based potentials as in the classic formulation.</summary>
    private void Hungarian(ReadOnlySpan<double> cost, int n)
    {
        var u = _rowPotential.AsSpan(0, n + 1);
        var v = _columnPotential.AsSpan(0, n + 1);
        var p = _rowOfColumn.AsSpan(0, n + 1);
        var way = _way.AsSpan(0, n + 1);
        var minimum = _minimum.AsSpan(0, n + 1);
        var used = _used.AsSpan(0, n + 1);
        u.Clear();
        v.Clear();
        p.Clear();
        way.Clear();
        for (var i = 1; i <= n; i++)
        {
            p[0] = i;
            var j0 = 0;
            minimum.Fill(double.PositiveInfinity);
            used.Clear();
            do
            {
                used[j0] = true;
                var i0 = p[j0];
                var delta = double.PositiveInfinity;
                var j1 = 0;
                for (var j = 1; j <= n; j++)
                {
                    if (used[j])
                    {
                        continue;
                    }

                    var reduced = cost[(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
                    if (reduced < minimum[j])
                    {
                        minimum[j] = reduced;
                        way[j] = j0;
                    }

                    if (minimum[j] < delta)
                    {
                        delta = minimum[j];
                        j1 = j;
                    }
                }

                for (var j = 0; j <= n; j++)
                {
                    if (used[j])
                    {
                        u[p[j]] += delta;
                        v[j] -= delta;
                    }
                    else
                    {
                        minimum[j] -= delta;
                    }
                }

                j0 = j1;
            }
            while (p[j0] != 0);

            do
            {
                var j1 = way[j0];
                p[j0] = p[j1];
                j0 = j1;
            }
            while (j0 != 0);
        }
    }

    private void EnsureCapacity(int size)
    {
        if (_square.Length < size * size)
        {
            _square = new double[size * size];
        }

        if (_rowPotential.Length < size + 1)
        {
            _rowPotential = new double[size + 1];
            _columnPotential = new double[size + 1];
            _minimum = new double[size + 1];
            _rowOfColumn = new int[size + 1];
            _way = new int[size + 1];
            _used = new bool[size + 1];
        }
    }
}
