using Npgsql;
using YoloFleet.Cloud.Data.Shadow;
using YoloFleet.Cloud.Rollout.Gates;
using YoloFleet.Cloud.Rollout.Statistics;

namespace YoloFleet.Cloud.Rollout.Storage;

/// <summary>
/// The gates' figures, read from what is already in PostgreSQL: the FP32 verifier's verdicts (agreement per verified
/// hard frame), telemetry (inference p95, throttled reports excluded), the devices' acknowledgements (model_events) and
/// their shadow windows (shadow_windows).
/// </summary>
public sealed class RolloutMetrics(NpgsqlDataSource dataSource, ShadowWindowStore shadowWindows)
{
    /// <summary>
    /// The candidate's shadow windows from these devices that ended in [<paramref name="since"/>, <paramref name="until"/>)
    /// (summed over its variants), and the FP32 verifier's verdicts on their disagreement frames verified since then:
    /// frames judged for both models (the candidate's boxes as role "shadow", the active model's as role "edge"), and each
    /// one's mean agreement with FP32 on them.
    /// </summary>
    public async Task<ShadowSample> ShadowAsync(
        IReadOnlyList<string> candidateSha256s, IReadOnlyList<string> devices, DateTimeOffset since, DateTimeOffset until, CancellationToken cancellationToken = default)
    {
        if (candidateSha256s.Count == 0 || devices.Count == 0)
        {
            return default;
        }

        var sum = default(ShadowSample);
        foreach (var sha in candidateSha256s)
        {
            var t = await shadowWindows.TotalsAsync(sha.ToLowerInvariant(), [.. devices], since, until, cancellationToken);
            sum = sum with
            {
                Windows = sum.Windows + t.Windows,
                Devices = sum.Devices + t.Devices,
                ShadowedFrames = sum.ShadowedFrames + t.ShadowedFrames,
                Matched = sum.Matched + t.Matched,
                OnlyActive = sum.OnlyActive + t.OnlyActive,
                OnlyCandidate = sum.OnlyCandidate + t.OnlyCandidate,
            };
        }

        await using var command = dataSource.CreateCommand("""
            SELECT count(*), avg(CASE WHEN s.edge_boxes + s.reference_boxes - s.matched <= 0 THEN 1.0
                                      ELSE s.matched::float8 / (s.edge_boxes + s.reference_boxes - s.matched) END),
                             avg(CASE WHEN e.edge_boxes + e.reference_boxes - e.matched <= 0 THEN 1.0
                                      ELSE e.matched::float8 / (e.edge_boxes + e.reference_boxes - e.matched) END)
            FROM verifications s
            JOIN verifications e ON e.device_id = s.device_id AND e.sequence = s.sequence AND e.role = 'edge'
            WHERE s.role = 'shadow' AND s.model_sha256 = ANY($1) AND s.device_id = ANY($2) AND s.verified_at >= $3
            """);
        command.Parameters.AddWithValue(candidateSha256s.Select(s => s.ToLowerInvariant()).ToArray());
        command.Parameters.AddWithValue(devices.ToArray());
        command.Parameters.AddWithValue(since);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return sum with
        {
            Verdicts = reader.GetInt64(0),
            CandidateAgreement = reader.IsDBNull(1) ? null : reader.GetDouble(1),
            ActiveAgreement = reader.IsDBNull(2) ? null : reader.GetDouble(2),
        };
    }

    /// <summary>
    /// Count, mean and sum of squared deviations of the per-frame agreement TP / (TP + FP + FN) (<see cref="AgreementSample"/>:
    /// matched over edge + reference - matched, 1 when neither found anything) of the edge boxes of these models on
    /// these devices, verified since <paramref name="since"/>.
    /// </summary>
    public async Task<RunningMoments> AgreementAsync(
        IReadOnlyList<string> sha256s, IReadOnlyList<string> devices, DateTimeOffset since, CancellationToken cancellationToken = default)
    {
        if (sha256s.Count == 0 || devices.Count == 0)
        {
            return default;
        }

        await using var command = dataSource.CreateCommand("""
            SELECT count(*), coalesce(avg(a), 0), coalesce(var_samp(a) * (count(*) - 1), 0) FROM (
                SELECT CASE WHEN edge_boxes + reference_boxes - matched <= 0 THEN 1.0
                            ELSE matched::float8 / (edge_boxes + reference_boxes - matched) END AS a
                FROM verifications
                WHERE role = 'edge' AND model_sha256 = ANY($1) AND device_id = ANY($2) AND verified_at >= $3) s
            """);
        command.Parameters.AddWithValue(sha256s.Select(s => s.ToLowerInvariant()).ToArray());
        command.Parameters.AddWithValue(devices.ToArray());
        command.Parameters.AddWithValue(since);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new RunningMoments(reader.GetInt64(0), reader.GetDouble(1), reader.GetDouble(2));
    }

    /// <summary>Non-throttled telemetry reports of these models on these devices since then: how many, and the median of their inference p95.</summary>
    public async Task<LatencySample> LatencyAsync(
        IReadOnlyList<string> sha256s, IReadOnlyList<string> devices, DateTimeOffset since, CancellationToken cancellationToken = default)
    {
        if (sha256s.Count == 0 || devices.Count == 0)
        {
            return default;
        }

        await using var command = dataSource.CreateCommand("""
            SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY p95) FROM (
                SELECT (s ->> 'p95')::float8 AS p95
                FROM telemetry t, jsonb_array_elements(t.stages) s
                WHERE NOT t.throttled AND t.active_model_sha256 = ANY($1) AND t.device_id = ANY($2) AND t.received_at >= $3
                  AND s ->> 'stage' = 'inference') x
            """);
        command.Parameters.AddWithValue(sha256s.Select(s => s.ToLowerInvariant()).ToArray());
        command.Parameters.AddWithValue(devices.ToArray());
        command.Parameters.AddWithValue(since);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new LatencySample(reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetDouble(1));
    }

    /// <summary>Devices whose latest acknowledgement of these assignments is a refusal, failure or roll-back.</summary>
    public async Task<IReadOnlyList<DeviceRefusal>> RefusalsAsync(IReadOnlyList<string> assignmentIds, CancellationToken cancellationToken = default)
    {
        if (assignmentIds.Count == 0)
        {
            return [];
        }

        await using var command = dataSource.CreateCommand("""
            SELECT device_id, stage, reason_code, error FROM (
                SELECT DISTINCT ON (device_id) device_id, stage, accepted, reason_code, error FROM model_events
                WHERE assignment_id = ANY($1) ORDER BY device_id, received_at DESC, sequence DESC) latest
            WHERE NOT accepted ORDER BY device_id
            """);
        command.Parameters.AddWithValue(assignmentIds.ToArray());
        return await ReadRefusalsAsync(command, cancellationToken);
    }

    /// <summary>Devices that refused an artifact of these assignments for one of <paramref name="reasonCodes"/>, at any time (the newest such refusal each).</summary>
    public async Task<IReadOnlyList<DeviceRefusal>> RefusalsForAsync(
        IReadOnlyList<string> assignmentIds, IEnumerable<string> reasonCodes, CancellationToken cancellationToken = default)
    {
        if (assignmentIds.Count == 0)
        {
            return [];
        }

        await using var command = dataSource.CreateCommand("""
            SELECT DISTINCT ON (device_id) device_id, stage, reason_code, error FROM model_events
            WHERE assignment_id = ANY($1) AND NOT accepted AND reason_code = ANY($2)
            ORDER BY device_id, received_at DESC, sequence DESC
            """);
        command.Parameters.AddWithValue(assignmentIds.ToArray());
        command.Parameters.AddWithValue(reasonCodes.ToArray());
        return await ReadRefusalsAsync(command, cancellationToken);
    }

    private static async Task<IReadOnlyList<DeviceRefusal>> ReadRefusalsAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var refusals = new List<DeviceRefusal>();
        while (await reader.ReadAsync(cancellationToken))
        {
            refusals.Add(new DeviceRefusal(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3)));
        }

        return refusals;
    }
}
