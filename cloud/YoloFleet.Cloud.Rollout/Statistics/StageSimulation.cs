namespace YoloFleet.Cloud.Rollout.Statistics;

/// <summary>A simulated fleet for the rollout bench: how many devices, what share a stage takes, how often each sends a verified hard frame.</summary>
/// <param name="Devices">Devices in the target.</param>
/// <param name="StagePercent">The stage's share of them on the candidate (at least one device); the rest are the control.</param>
/// <param name="HardFramesPerDeviceHour">Verified hard frames each device yields per hour.</param>
/// <param name="ControlMean">The control's mean agreement with FP32.</param>
public sealed record StageSimulationSettings(int Devices = 200, double StagePercent = 5, double HardFramesPerDeviceHour = 30, double ControlMean = 0.80);

/// <summary>What the sequential test did over many simulated stages with one true regression.</summary>
/// <param name="Regression">The candidate's true drop in mean agreement (0.03: three points).</param>
/// <param name="RollbackShare">Share of stages that ended in a roll-back.</param>
/// <param name="CandidateFrames">Verified hard frames from the candidate's devices at the decision: median and 90th percentile.</param>
/// <param name="ControlFrames">From the control's devices, median.</param>
/// <param name="Hours">Time to the decision at the fleet's rate: median and 90th percentile.</param>
/// <param name="Truncated">Stages decided by truncation rather than a bound.</param>
public sealed record StageSimulationResult(
    double Regression,
    int Repetitions,
    double RollbackShare,
    double MedianCandidateFrames,
    double P90CandidateFrames,
    double MedianControlFrames,
    double MedianHours,
    double P90Hours,
    int Truncated);

/// <summary>
/// Runs simulated stages to a decision: agreement streams like the verifier's (a share of frames agree perfectly, the
/// rest spread evenly over [0, 1)), frames arriving from the candidate's and the control's devices in proportion to
/// their numbers, the test read after every frame as the grain reads it after every evaluation.
/// </summary>
public static class StageSimulation
{
    public static StageSimulationResult Run(SequentialTestDesign design, StageSimulationSettings fleet, double regression, int repetitions, Random random)
    {
        ArgumentNullException.ThrowIfNull(design);
        ArgumentNullException.ThrowIfNull(fleet);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentOutOfRangeException.ThrowIfLessThan(fleet.Devices, 2);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(repetitions);
        var candidateDevices = Math.Clamp((int)Math.Round(fleet.Devices * fleet.StagePercent / 100), 1, fleet.Devices - 1);
        var controlDevices = fleet.Devices - candidateDevices;
        var candidateMean = fleet.ControlMean - regression;
        var candidateFrames = new double[repetitions];
        var controlFrames = new double[repetitions];
        var rollbacks = 0;
        var truncated = 0;
        for (var r = 0; r < repetitions; r++)
        {
            var reading = RunOne(design, random, fleet.ControlMean, candidateMean, candidateDevices, controlDevices);
            rollbacks += reading.Decision == SequentialDecision.Regression ? 1 : 0;
            truncated += reading.Truncated ? 1 : 0;
            candidateFrames[r] = reading.CandidateSamples;
            controlFrames[r] = reading.ControlSamples;
        }

        Array.Sort(candidateFrames);
        Array.Sort(controlFrames);
        var rate = candidateDevices * fleet.HardFramesPerDeviceHour;
        return new StageSimulationResult(
            regression, repetitions, (double)rollbacks / repetitions, Quantile(candidateFrames, 0.5), Quantile(candidateFrames, 0.9),
            Quantile(controlFrames, 0.5), Quantile(candidateFrames, 0.5) / rate, Quantile(candidateFrames, 0.9) / rate, truncated);
    }

    /// <summary>One agreement sample with the given mean: perfect with probability 2·mean − 1, else uniform on [0, 1).</summary>
    public static double Sample(Random random, double mean)
    {
        ArgumentNullException.ThrowIfNull(random);
        var perfect = Math.Clamp((2 * mean) - 1, 0, 1);
        return random.NextDouble() < perfect ? 1 : random.NextDouble() * Math.Min(1, 2 * mean);
    }

    private static SequentialTestReading RunOne(SequentialTestDesign design, Random random, double controlMean, double candidateMean, int candidateDevices, int controlDevices)
    {
        var test = new SequentialAgreementTest(design);
        var candidateShare = (double)candidateDevices / (candidateDevices + controlDevices);

        // Bounded: truncation decides once both groups reach the design's maximum.
        var limit = (long)design.MaxSamplesPerGroup * (candidateDevices + controlDevices) * 4;
        for (long frame = 0; frame < limit; frame++)
        {
            if (random.NextDouble() < candidateShare)
            {
                test.AddCandidate(Sample(random, candidateMean));
            }
            else
            {
                test.AddControl(Sample(random, controlMean));
            }

            var reading = test.Read();
            if (reading.Decision != SequentialDecision.Continue)
            {
                return reading;
            }
        }

        return test.Read();
    }

    private static double Quantile(double[] sorted, double q) => sorted.Length == 0 ? 0 : sorted[(int)Math.Min(sorted.Length - 1, Math.Floor(q * sorted.Length))];
}
