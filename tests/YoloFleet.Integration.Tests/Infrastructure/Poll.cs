namespace YoloFleet.Integration.Tests.Infrastructure;

/// <summary>Bounded polling for state that settles asynchronously; it always stops by itself.</summary>
public static class Poll
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(50);

    /// <summary>Reads until <paramref name="done"/> holds or <paramref name="timeout"/> passes; returns the last value read.</summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var value = await read();
        while (!done(value) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(Interval);
            value = await read();
        }

        return value;
    }
}
