using Google.Protobuf;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Contracts;

namespace YoloFleet.Cloud.Registry.Assignments;

/// <summary>
/// Puts each device's assignment on its retained model topic (<see cref="IDeviceDownlink"/>, QoS 1, retained), so a
/// device that is offline gets it on reconnect. A publish the broker did not take (broker away) is retried here, as is
/// a message changed by a later choice of variant; and before the download URLs in a retained message expire, the
/// message is republished with fresh ones. What is due is read from PostgreSQL, so a silo that restarts, or any silo
/// of the cluster, picks it up.
/// </summary>
public sealed partial class AssignmentPublisher(
    AssignmentStore assignments,
    ModelAssignedMessages messages,
    IDeviceDownlink downlink,
    ModelRegistryOptions options,
    TimeProvider time,
    ILogger<AssignmentPublisher> logger) : BackgroundService
{
    /// <summary>How often the silo looks for messages that are due, when nothing wakes it sooner.</summary>
    public static readonly TimeSpan CheckEvery = TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim _wake = new(0, 1);

    public ModelAssignedMessages Messages => messages;

    /// <summary>Published messages the broker accepted.</summary>
    public long Published => Interlocked.Read(ref _published);

    private long _published;

    /// <summary>Publishes one device's message now; false (and it stays due) when the broker cannot take it.</summary>
    public async Task<bool> TryPublishAsync(ModelAssignmentRow row, CancellationToken cancellationToken = default)
    {
        try
        {
            var message = await messages.BuildAsync(row, cancellationToken);
            await downlink.PublishAsync(row.DeviceId, Topics.ModelKind, message.ToByteArray(), retain: true, cancellationToken);
            await assignments.MarkPublishedAsync(row.AssignmentId, row.DeviceId, row.Revision, time.GetUtcNow(), cancellationToken);
            Interlocked.Increment(ref _published);
            LogPublished(row.DeviceId, row.AssignmentId, row.Revision, row.SelectedSha256 ?? "(to benchmark)");
            return true;
        }
        catch (DownlinkUnavailableException ex)
        {
            LogDeferred(row.DeviceId, row.AssignmentId, ex.Message);
            Wake();
            return false;
        }
    }

    /// <summary>Looks for due messages now rather than at the next check.</summary>
    public void Wake()
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (Exception ex) when (ex is SemaphoreFullException or ObjectDisposedException)
        {
            // Already awake, or stopping.
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            var wait = CheckEvery;
            try
            {
                var now = time.GetUtcNow();
                var due = await assignments.DueForPublishingAsync(now + (options.DownloadTokenLifetime / 2), now + options.DownloadTokenLifetime, 500, stoppingToken);
                foreach (var row in due)
                {
                    if (!await TryPublishAsync(row, stoppingToken))
                    {
                        // The broker is away: try again soon, a little later each time.
                        wait = backoff;
                        backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, CheckEvery.Ticks));
                        break;
                    }

                    backoff = TimeSpan.FromSeconds(1);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                LogCheckFailed(ex);
                wait = backoff;
            }

            try
            {
                await _wake.WaitAsync(wait, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
        }
    }

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Published the model assignment of {DeviceId} ({AssignmentId}, revision {Revision}, selected {Selected})")]
    private partial void LogPublished(string deviceId, string assignmentId, int revision, string selected);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The model assignment of {DeviceId} ({AssignmentId}) waits for the broker: {Reason}")]
    private partial void LogDeferred(string deviceId, string assignmentId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Looking for model assignments to publish failed; trying again shortly")]
    private partial void LogCheckFailed(Exception ex);
}
