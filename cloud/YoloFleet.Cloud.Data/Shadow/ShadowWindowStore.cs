using Npgsql;
using NpgsqlTypes;

namespace YoloFleet.Cloud.Data.Shadow;

/// <summary>A validated <c>ShadowReported</c> on its way to the database.</summary>
public sealed record ShadowWindowRow(
    string DeviceId,
    long Sequence,
    string ActiveSha256,
    string CandidateSha256,
    DateTimeOffset WindowStart,
    DateTimeOffset WindowEnd,
    long Frames,
    long ShadowedFrames,
    long SkippedForBudget,
    long Matched,
    long OnlyActive,
    long OnlyCandidate,
    float ActiveP50Ms,
    float ActiveP95Ms,
    float CandidateP50Ms,
    float CandidateP95Ms,
    long ThrottledFrames,
    float ShadowCpuShare,
    DateTimeOffset ReceivedAt);

/// <summary>A candidate's shadow windows summed over devices and a period (what a rollout's shadow gate reads).</summary>
public sealed record ShadowTotals(long Windows, long Devices, long ShadowedFrames, long Matched, long OnlyActive, long OnlyCandidate)
{
    /// <summary>
    /// The share of boxes the two models did not agree on: (only_active + only_candidate) / (matched + only_active +
    /// only_candidate); 0 with no boxes.
    /// </summary>
    public double Divergence => Matched + OnlyActive + OnlyCandidate == 0 ? 0 : (double)(OnlyActive + OnlyCandidate) / (Matched + OnlyActive + OnlyCandidate);
}

/// <summary>Shadow windows (table <c>shadow_windows</c>): stored once per (device, sequence), summed for the rollout gate.</summary>
public sealed class ShadowWindowStore(NpgsqlDataSource dataSource)
{
    /// <summary>Stores a window; returns 1 when it is new, 0 when it was stored before (a redelivery).</summary>
    public async Task<int> InsertAsync(ShadowWindowRow row, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(row);
        await using var command = dataSource.CreateCommand("""
            INSERT INTO shadow_windows (device_id, sequence, active_sha256, candidate_sha256, window_start, window_end, frames,
                shadowed_frames, skipped_for_budget, matched, only_active, only_candidate, active_p50_ms, active_p95_ms,
                candidate_p50_ms, candidate_p95_ms, throttled_frames, shadow_cpu_share, received_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
            ON CONFLICT (device_id, sequence) DO NOTHING
            """);
        var p = command.Parameters;
        p.AddWithValue(row.DeviceId);
        p.AddWithValue(row.Sequence);
        p.AddWithValue(row.ActiveSha256);
        p.AddWithValue(row.CandidateSha256);
        p.AddWithValue(row.WindowStart.UtcDateTime);
        p.AddWithValue(row.WindowEnd.UtcDateTime);
        p.AddWithValue(row.Frames);
        p.AddWithValue(row.ShadowedFrames);
        p.AddWithValue(row.SkippedForBudget);
        p.AddWithValue(row.Matched);
        p.AddWithValue(row.OnlyActive);
        p.AddWithValue(row.OnlyCandidate);
        p.AddWithValue(row.ActiveP50Ms);
        p.AddWithValue(row.ActiveP95Ms);
        p.AddWithValue(row.CandidateP50Ms);
        p.AddWithValue(row.CandidateP95Ms);
        p.AddWithValue(row.ThrottledFrames);
        p.AddWithValue(row.ShadowCpuShare);
        p.AddWithValue(row.ReceivedAt.UtcDateTime);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>A candidate's windows from <paramref name="devices"/> that ended in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    public async Task<ShadowTotals> TotalsAsync(
        string candidateSha256, IReadOnlyCollection<string> devices, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(devices);
        await using var command = dataSource.CreateCommand("""
            SELECT count(*), count(DISTINCT device_id), coalesce(sum(shadowed_frames), 0)::bigint, coalesce(sum(matched), 0)::bigint,
                coalesce(sum(only_active), 0)::bigint, coalesce(sum(only_candidate), 0)::bigint
            FROM shadow_windows
            WHERE candidate_sha256 = $1 AND device_id = ANY($2) AND window_end >= $3 AND window_end < $4 AND shadowed_frames > 0
            """);
        command.Parameters.AddWithValue(candidateSha256);
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text, Value = devices.ToArray() });
        command.Parameters.AddWithValue(from.UtcDateTime);
        command.Parameters.AddWithValue(to.UtcDateTime);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new ShadowTotals(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5));
    }
}
