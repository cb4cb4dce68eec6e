namespace YoloFleet.Inference.Scene;

/// <summary>
/// The constant-velocity Kalman filter of SORT, DeepSORT and ByteTrack, with ByteTrack's noise model. The state is
/// (cx, cy, a, h, vcx, vcy, va, vh): the box centre, aspect ratio (width / height) and height, and their velocities per
/// frame. Position and velocity noise scale with the box height, so a near object and a far one are equally sure of
/// themselves relative to their size. Mean (8) and covariance (8 x 8, row-major) live in the caller's arrays.
/// </summary>
internal static class KalmanBoxFilter
{
    public const int StateSize = 8;

    private const double PositionWeight = 1.0 / 20;
    private const double VelocityWeight = 1.0 / 160;

    // ByteTrack lets the aspect ratio drift by 0.01 per frame. An object entering the frame has a clipped box whose
    // aspect changes much faster than that, and a predicted box then came out up to twice as wide as the object
    // (measured in TrackerIdentityTests); 0.05 follows the change within a few detections and still smooths jitter.
    private const double AspectProcessNoise = 5e-2;

    /// <summary>Starts a state from a first measurement (cx, cy, a, h) with zero velocity and wide uncertainty.</summary>
    public static void Initiate(ReadOnlySpan<double> measurement, Span<double> mean, Span<double> covariance)
    {
        measurement[..4].CopyTo(mean);
        mean[4..8].Clear();
        var h = measurement[3];
        ReadOnlySpan<double> deviations =
        [
            2 * PositionWeight * h, 2 * PositionWeight * h, 1e-2, 2 * PositionWeight * h,
            10 * VelocityWeight * h, 10 * VelocityWeight * h, 1e-5, 10 * VelocityWeight * h,
        ];
        covariance[..(StateSize * StateSize)].Clear();
        for (var i = 0; i < StateSize; i++)
        {
            covariance[i * StateSize + i] = deviations[i] * deviations[i];
        }
    }

    /// <summary>One frame forward: x += v, and P = F P Fᵀ + Q.</summary>
    public static void Predict(Span<double> mean, Span<double> covariance)
    {
        var h = mean[3];
        for (var i = 0; i < 4; i++)
        {
            mean[i] += mean[i + 4];
        }

        // With F = [[I, I], [0, I]] and P = [[A, B], [C, D]] in 4x4 blocks: F P Fᵀ = [[A + B + C + D, B + D], [C + D, D]].
        Span<double> previous = stackalloc double[StateSize * StateSize];
        covariance[..previous.Length].CopyTo(previous);
        for (var r = 0; r < 4; r++)
        {
            for (var c = 0; c < 4; c++)
            {
                var a = previous[r * 8 + c];
                var b = previous[r * 8 + c + 4];
                var cc = previous[(r + 4) * 8 + c];
                var d = previous[(r + 4) * 8 + c + 4];
                covariance[r * 8 + c] = a + b + cc + d;
                covariance[r * 8 + c + 4] = b + d;
                covariance[(r + 4) * 8 + c] = cc + d;
            }
        }

        ReadOnlySpan<double> noise =
        [
            PositionWeight * h, PositionWeight * h, AspectProcessNoise, PositionWeight * h,
            VelocityWeight * h, VelocityWeight * h, 1e-5, VelocityWeight * h,
        ];
        for (var i = 0; i < StateSize; i++)
        {
            covariance[i * StateSize + i] += noise[i] * noise[i];
        }
    }

    /// <summary>Corrects the state with a measurement (cx, cy, a, h).</summary>
    public static void Update(Span<double> mean, Span<double> covariance, ReadOnlySpan<double> measurement)
    {
        var h = mean[3];
        ReadOnlySpan<double> measurementNoise = [PositionWeight * h, PositionWeight * h, 1e-1, PositionWeight * h];

        // S = H P Hᵀ + R (the top-left block plus measurement noise), then its inverse.
        Span<double> innovationCovariance = stackalloc double[16];
        for (var r = 0; r < 4; r++)
        {
            for (var c = 0; c < 4; c++)
            {
                innovationCovariance[r * 4 + c] = covariance[r * 8 + c];
            }

            innovationCovariance[r * 4 + r] += measurementNoise[r] * measurementNoise[r];
        }

        Span<double> inverse = stackalloc double[16];
        Invert4(innovationCovariance, inverse);

        // K = P Hᵀ S⁻¹: P's first four columns times S⁻¹ (8 x 4).
        Span<double> gain = stackalloc double[32];
        for (var r = 0; r < StateSize; r++)
        {
            for (var c = 0; c < 4; c++)
            {
                var sum = 0.0;
                for (var k = 0; k < 4; k++)
                {
                    sum += covariance[r * 8 + k] * inverse[k * 4 + c];
                }

                gain[r * 4 + c] = sum;
            }
        }

        Span<double> innovation = stackalloc double[4];
        for (var i = 0; i < 4; i++)
        {
            innovation[i] = measurement[i] - mean[i];
        }

        for (var r = 0; r < StateSize; r++)
        {
            var sum = 0.0;
            for (var k = 0; k < 4; k++)
            {
                sum += gain[r * 4 + k] * innovation[k];
            }

            mean[r] += sum;
        }

        // P -= K H P (K H P = K times P's first four rows), which equals K S Kᵀ.
        Span<double> correction = stackalloc double[StateSize * StateSize];
        for (var r = 0; r < StateSize; r++)
        {
            for (var c = 0; c < StateSize; c++)
            {
                var sum = 0.0;
                for (var k = 0; k < 4; k++)
                {
                    sum += gain[r * 4 + k] * covariance[k * 8 + c];
                }

                correction[r * 8 + c] = sum;
            }
        }

        for (var i = 0; i < correction.Length; i++)
        {
            covariance[i] -= correction[i];
        }
    }

    /// <summary>(x1, y1, x2, y2) to the filter's measurement (cx, cy, a, h).</summary>
    public static void ToMeasurement(float x1, float y1, float x2, float y2, Span<double> measurement)
    {
        var width = Math.Max(1e-3, (double)x2 - x1);
        var height = Math.Max(1e-3, (double)y2 - y1);
        measurement[0] = x1 + width / 2;
        measurement[1] = y1 + height / 2;
        measurement[2] = width / height;
        measurement[3] = height;
    }

    /// <summary>The state's box as (x1, y1, x2, y2).</summary>
    public static (float X1, float Y1, float X2, float Y2) ToBox(ReadOnlySpan<double> mean)
    {
        var height = Math.Max(1e-3, mean[3]);
        var width = Math.Max(1e-3, mean[2] * height);
        return ((float)(mean[0] - width / 2), (float)(mean[1] - height / 2), (float)(mean[0] + width / 2), (float)(mean[1] + height / 2));
    }

    /// <summary>Gauss-Jordan inverse of a 4x4 matrix with partial pivoting (S is symmetric positive definite, so it exists).</summary>
    private static void Invert4(ReadOnlySpan<double> matrix, Span<double> inverse)
    {
        Span<double> work = stackalloc double[16];
        matrix[..16].CopyTo(work);
        inverse[..16].Clear();
        for (var i = 0; i < 4; i++)
        {
            inverse[i * 4 + i] = 1;
        }

        for (var column = 0; column < 4; column++)
        {
            var pivot = column;
            for (var row = column + 1; row < 4; row++)
            {
                if (Math.Abs(work[row * 4 + column]) > Math.Abs(work[pivot * 4 + column]))
                {
                    pivot = row;
                }
            }

            if (pivot != column)
            {
                for (var k = 0; k < 4; k++)
                {
                    (work[column * 4 + k], work[pivot * 4 + k]) = (work[pivot * 4 + k], work[column * 4 + k]);
                    (inverse[column * 4 + k], inverse[pivot * 4 + k]) = (inverse[pivot * 4 + k], inverse[column * 4 + k]);
                }
            }

            var scale = 1 / work[column * 4 + column];
            for (var k = 0; k < 4; k++)
            {
                work[column * 4 + k] *= scale;
                inverse[column * 4 + k] *= scale;
            }

            for (var row = 0; row < 4; row++)
            {
                if (row == column)
                {
                    continue;
                }

                var factor = work[row * 4 + column];
                if (factor == 0)
                {
                    continue;
                }

                for (var k = 0; k < 4; k++)
                {
                    work[row * 4 + k] -= factor * work[column * 4 + k];
                    inverse[row * 4 + k] -= factor * inverse[column * 4 + k];
                }
            }
        }
    }
}
