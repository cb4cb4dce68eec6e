namespace YoloFleet.Cloud.Ingest;

/// <summary>
/// The one retry policy for writes whose messages wait unacknowledged until they commit: try again after 100 ms,
/// doubling to at most 5 s, for as long as the silo runs. Giving up would mean dropping data the broker already took.
/// </summary>
internal static class CommitRetry
{
    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(5);

    /// <summary>Runs <paramref name="write"/> until it succeeds; <paramref name="onFailure"/> gets each error, its attempt and the wait before the next.</summary>
    public static async Task<T> UntilCommittedAsync<T>(
        Func<CancellationToken, Task<T>> write, Action<Exception, int, TimeSpan> onFailure, TimeProvider time, CancellationToken stoppingToken)
    {
        var delay = FirstDelay;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await write(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                onFailure(ex, attempt, delay);
            }

            await Task.Delay(delay, time, stoppingToken);
            delay = delay * 2 < MaxDelay ? delay * 2 : MaxDelay;
        }
    }
}
