using Microsoft.AspNetCore.Http.HttpResults;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Registry.Assignments;
using YoloFleet.Cloud.Rollout.Storage;

namespace YoloFleet.Cloud.Apis;

/// <summary>POST /api/rollouts/{id}/promote|pause|resume|abort body (optional): why, for the audit trail.</summary>
public sealed record RolloutCommandRequest(string? Reason);

/// <summary>GET /api/rollouts: one line per rollout.</summary>
public sealed record RolloutSummary(string Id, string Model, int CandidateVersion, string State, int Stage, DateTimeOffset CreatedAt);

/// <summary>
/// Staged rollouts for operators (docs/rollout.md): start one, read its status (stage, devices, gate figures, verdict,
/// audit trail), and promote, pause, resume or abort it by hand. Refusals are problem responses: 400 invalid, 404 not
/// found, 409 when the rollout's state or another rollout's devices stand in the way.
/// </summary>
public static class RolloutsApi
{
    public const string OperatorActor = "operator";

    public static IEndpointRouteBuilder MapRolloutsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/rollouts");
        api.MapPost("/", StartAsync).WithName("StartRollout").WithSummary("Start a staged rollout of a candidate version against a baseline (operator).");
        api.MapGet("/", ListAsync).WithName("ListRollouts").WithSummary("Rollouts, newest first, a page at a time (limit, cursor).");
        api.MapGet("/{id}", GetAsync).WithName("GetRollout")
            .WithSummary("A rollout's status: stage, devices and their variants, gate figures, verdict and audit trail.");
        api.MapPost("/{id}/promote", (string id, RolloutCommandRequest? body, IGrainFactory grains) =>
            CommandAsync(id, grains, g => g.PromoteAsync(OperatorActor, body?.Reason ?? "")))
            .WithName("PromoteRollout").WithSummary("Move the rollout to its next stage (or complete it) now, whatever the gates say (operator).");
        api.MapPost("/{id}/pause", (string id, RolloutCommandRequest? body, IGrainFactory grains) =>
            CommandAsync(id, grains, g => g.PauseAsync(OperatorActor, body?.Reason ?? "")))
            .WithName("PauseRollout").WithSummary("Pause the rollout: gates and stages stop moving (operator).");
        api.MapPost("/{id}/resume", (string id, RolloutCommandRequest? body, IGrainFactory grains) =>
            CommandAsync(id, grains, g => g.ResumeAsync(OperatorActor, body?.Reason ?? "")))
            .WithName("ResumeRollout").WithSummary("Resume a paused rollout (operator).");
        api.MapPost("/{id}/abort", (string id, RolloutCommandRequest? body, IGrainFactory grains) =>
            CommandAsync(id, grains, g => g.AbortAsync(OperatorActor, body?.Reason ?? "")))
            .WithName("AbortRollout").WithSummary("Abort the rollout and send every device that got the candidate back to its previous model (operator).");
        return app;
    }

    /// <summary>A rollout id: "ro-" and 32 lowercase hex digits.</summary>
    public static bool IsRolloutId(string? id) =>
        id is { Length: 35 } && id.StartsWith("ro-", StringComparison.Ordinal) && id.AsSpan(3).ContainsAnyExcept("0123456789abcdef") is false;

    private static async Task<IResult> StartAsync(RolloutRequest? request, IGrainFactory grains)
    {
        if (request is null || string.IsNullOrWhiteSpace(request.Model))
        {
            return Problem(StatusCodes.Status400BadRequest, "Send a JSON body with at least \"model\" (and optionally candidateVersion, baselineVersion, group or devices, stages, gates).");
        }

        var id = "ro-" + Guid.NewGuid().ToString("N");
        var reply = await grains.GetGrain<IRolloutGrain>(id).StartAsync(request, OperatorActor);
        return reply.Status is { } status ? TypedResults.Created($"/api/rollouts/{id}", status) : Refused(reply);
    }

    private static async Task<IResult> ListAsync(RolloutStore store, int? limit, string? cursor, CancellationToken cancellationToken)
    {
        const string kind = "rollouts";
        if (!Paging.TryLimit(limit, out var take, out var problem) || !Paging.TryCursor(cursor, kind, 2, out var key, out problem))
        {
            return problem!;
        }

        (DateTimeOffset, string)? after = null;
        if (key is not null)
        {
            if (!Paging.TryTime(key[0], out var createdAt))
            {
                return Paging.BadCursor(kind);
            }

            after = (createdAt, key[1]);
        }

        var rows = (await store.ListPageAsync(after, take + 1, cancellationToken))
            .Select(r => new RolloutSummary(r.Id, r.Model, r.Candidate, r.State, r.StageIndex + 1, r.CreatedAt)).ToList();
        return TypedResults.Ok(Paging.Of(rows, take, kind, r => [Paging.Text(r.CreatedAt), r.Id]));
    }

    /// <summary>The status, with each device's variant and why as its assignment recorded it (the choice changes as devices benchmark).</summary>
    private static async Task<IResult> GetAsync(string id, IGrainFactory grains, AssignmentService assignments, CancellationToken cancellationToken)
    {
        var result = await CommandAsync(id, grains, g => g.GetAsync());
        if (result is not Ok<RolloutStatus> { Value: { } status })
        {
            return result;
        }

        // Later assignments (a later stage's, a roll-back's) overwrite earlier ones: the newest is what the device should run.
        var variants = new Dictionary<string, RolloutDeviceVariant>(StringComparer.Ordinal);
        foreach (var assignmentId in status.AssignmentIds)
        {
            foreach (var device in (await assignments.GetAsync(assignmentId, cancellationToken)).Devices)
            {
                variants[device.DeviceId] = new(device.DeviceId, assignmentId, device.SelectedSha256, device.SelectedPrecision, device.Reason);
            }
        }

        return TypedResults.Ok(status with { Variants = [.. variants.Values.OrderBy(v => v.DeviceId, StringComparer.Ordinal)] });
    }

    private static async Task<IResult> CommandAsync(string id, IGrainFactory grains, Func<IRolloutGrain, Task<RolloutReply>> command)
    {
        if (!IsRolloutId(id))
        {
            return Problem(StatusCodes.Status404NotFound, $"'{id}' is not a rollout id (\"ro-\" and 32 hex digits).");
        }

        var reply = await command(grains.GetGrain<IRolloutGrain>(id));
        return reply.Status is { } status ? TypedResults.Ok(status) : Refused(reply);
    }

    private static IResult Refused(RolloutReply reply) => Problem(
        reply.ErrorKind switch
        {
            RolloutReply.NotFound => StatusCodes.Status404NotFound,
            RolloutReply.Conflict => StatusCodes.Status409Conflict,
            _ => StatusCodes.Status400BadRequest,
        },
        reply.Error ?? "The rollout request was refused.");

    private static IResult Problem(int status, string detail) => TypedResults.Problem(detail, statusCode: status);
}
