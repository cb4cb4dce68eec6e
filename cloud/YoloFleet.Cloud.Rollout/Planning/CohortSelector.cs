using System.IO.Hashing;
using System.Text;

namespace YoloFleet.Cloud.Rollout.Planning;

/// <summary>
/// Which devices a percentage stage takes: each device gets a bucket 0..9999 from a stable hash of the rollout's key and
/// its id, and a stage of p % takes the buckets below p × 100. The bucket never changes within a rollout, so a device in
/// at 5 % is in at 25 %, and the share is even whatever the ids look like. Keying by rollout spreads the first stages
/// over different devices from one rollout to the next, so the same few devices do not carry every canary.
/// </summary>
public static class CohortSelector
{
    public const int Buckets = 10_000;

    /// <summary>The device's bucket in this rollout, 0..9999 (XxHash64 of "rolloutKey/deviceId", UTF-8).</summary>
    public static int Bucket(string rolloutKey, string deviceId)
    {
        ArgumentException.ThrowIfNullOrEmpty(rolloutKey);
        ArgumentException.ThrowIfNullOrEmpty(deviceId);
        var hash = XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(rolloutKey + "/" + deviceId));
        return (int)(hash % Buckets);
    }

    /// <summary>Whether a stage of <paramref name="percent"/> % (0..100, two decimals count) includes the device.</summary>
    public static bool Includes(string rolloutKey, string deviceId, double percent)
    {
        if (!(percent is >= 0 and <= 100))
        {
            throw new ArgumentOutOfRangeException(nameof(percent), percent, "A stage's share is 0..100 %.");
        }

        return Bucket(rolloutKey, deviceId) < (int)Math.Round(percent * (Buckets / 100.0));
    }
}
