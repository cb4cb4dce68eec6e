using Npgsql;
using NpgsqlTypes;
using YoloFleet.Cloud.Data.Entities;
using YoloFleet.Inference.Evaluation;

namespace YoloFleet.Cloud.Data.Verification;

/// <summary>Per model version: the edge against the FP32 reference, summed over every verified hard frame.</summary>
/// <param name="CalibrationBins">Per edge-score bin: matched pairs, mean edge score, mean FP32 score.</param>
public sealed record VerificationSummary(
    string ModelVersion,
    string VerifierModel,
    long Frames,
    long EdgeBoxes,
    long ReferenceBoxes,
    long Matched,
    double Precision,
    double Recall,
    double MeanFramePrecision,
    double MeanFrameRecall,
    IReadOnlyList<CalibrationBin> CalibrationBins,
    IReadOnlyDictionary<int, long> MissedClasses);

public sealed record CalibrationBin(float From, float To, long Pairs, double MeanEdgeScore, double MeanReferenceScore);

/// <summary>Writes verification rows and reads them back summed per model version.</summary>
public sealed class VerificationWriter(NpgsqlDataSource dataSource)
{
    /// <summary>Stores one verdict; a second verdict for the same hard frame (a redelivery) replaces nothing.</summary>
    public async Task<bool> InsertAsync(VerificationRecord v, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            INSERT INTO verifications (device_id, sequence, model_version, verifier_model, captured_at, verified_at, edge_boxes,
                                       reference_boxes, matched, precision, recall, mean_iou, missed_classes, calibration_count,
                                       calibration_edge_sum, calibration_reference_sum, verify_ms, role, model_sha256)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
            ON CONFLICT (device_id, sequence, role) DO NOTHING
            """);
        var p = command.Parameters;
        p.AddWithValue(v.DeviceId);
        p.AddWithValue(v.Sequence);
        p.AddWithValue(v.ModelVersion);
        p.AddWithValue(v.VerifierModel);
        p.AddWithValue(v.CapturedAt.UtcDateTime);
        p.AddWithValue(v.VerifiedAt.UtcDateTime);
        p.AddWithValue(v.EdgeBoxes);
        p.AddWithValue(v.ReferenceBoxes);
        p.AddWithValue(v.Matched);
        p.AddWithValue(v.Precision);
        p.AddWithValue(v.Recall);
        p.AddWithValue(v.MeanIou);
        p.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer, Value = v.MissedClasses });
        p.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer, Value = v.CalibrationCount });
        p.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Real, Value = v.CalibrationEdgeSum });
        p.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Real, Value = v.CalibrationReferenceSum });
        p.AddWithValue(v.VerifyMs);
        p.AddWithValue(v.Role);
        p.AddWithValue(v.ModelSha256);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>
    /// One summary per (edge model version, verifier model) over the live models' verdicts (role edge: shadow verdicts come
    /// from frames picked because the two models disagreed, which would skew them), optionally only verdicts since a time.
    /// </summary>
    public async Task<IReadOnlyList<VerificationSummary>> SummarizeAsync(DateTimeOffset? since = null, CancellationToken cancellationToken = default)
    {
        var from = (since ?? DateTimeOffset.UnixEpoch).UtcDateTime;
        var totals = new List<(string Model, string Verifier, long Frames, long Edge, long Reference, long Matched, double P, double R)>();
        await using (var command = dataSource.CreateCommand("""
            SELECT model_version, verifier_model, count(*), sum(edge_boxes), sum(reference_boxes), sum(matched), avg(precision), avg(recall)
            FROM verifications WHERE verified_at >= $1 AND role = 'edge' GROUP BY model_version, verifier_model ORDER BY model_version, verifier_model
            """))
        {
            command.Parameters.AddWithValue(from);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                totals.Add((reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4),
                    reader.GetInt64(5), reader.GetDouble(6), reader.GetDouble(7)));
            }
        }

        var bins = new Dictionary<(string, string), List<CalibrationBin>>();
        await using (var command = dataSource.CreateCommand("""
            SELECT model_version, verifier_model, b.ord, sum(b.n), sum(b.e), sum(b.r)
            FROM verifications, unnest(calibration_count, calibration_edge_sum, calibration_reference_sum) WITH ORDINALITY AS b(n, e, r, ord)
            WHERE verified_at >= $1 AND role = 'edge' GROUP BY model_version, verifier_model, b.ord ORDER BY b.ord
            """))
        {
            command.Parameters.AddWithValue(from);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var key = (reader.GetString(0), reader.GetString(1));
                var bin = (int)reader.GetInt64(2) - 1;
                var n = reader.GetInt64(3);
                var e = reader.GetDouble(4);
                var r = reader.GetDouble(5);
                if (!bins.TryGetValue(key, out var list))
                {
                    bins[key] = list = [];
                }

                var width = 1f / ScoreCalibration.Bins;
                list.Add(new CalibrationBin(bin * width, (bin + 1) * width, n, n == 0 ? 0 : e / n, n == 0 ? 0 : r / n));
            }
        }

        var missed = new Dictionary<(string, string), Dictionary<int, long>>();
        await using (var command = dataSource.CreateCommand("""
            SELECT model_version, verifier_model, c, count(*) FROM verifications, unnest(missed_classes) AS c
            WHERE verified_at >= $1 AND role = 'edge' GROUP BY model_version, verifier_model, c
            """))
        {
            command.Parameters.AddWithValue(from);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var key = (reader.GetString(0), reader.GetString(1));
                if (!missed.TryGetValue(key, out var classes))
                {
                    missed[key] = classes = [];
                }

                classes[reader.GetInt32(2)] = reader.GetInt64(3);
            }
        }

        return [.. totals.Select(t => new VerificationSummary(
            t.Model,
            t.Verifier,
            t.Frames,
            t.Edge,
            t.Reference,
            t.Matched,
            t.Edge == 0 ? 1 : (double)t.Matched / t.Edge,
            t.Reference == 0 ? 1 : (double)t.Matched / t.Reference,
            t.P,
            t.R,
            bins.GetValueOrDefault((t.Model, t.Verifier)) ?? [],
            missed.GetValueOrDefault((t.Model, t.Verifier)) ?? new Dictionary<int, long>()))];
    }
}
