using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Data.Registry;
using YoloFleet.Cloud.Ingest;
using YoloFleet.Cloud.Registry;
using YoloFleet.Cloud.Registry.Artifacts;
using YoloFleet.Cloud.Registry.Assignments;
using YoloFleet.Cloud.Registry.Models;
using YoloFleet.Cloud.Registry.Quantization;
using YoloFleet.Cloud.Registry.Signing;
using YoloFleet.Cloud.Rollout.Storage;
using YoloFleet.Cloud.Security;
using YoloFleet.Contracts;
using YoloFleet.Inference.Manifest;

namespace YoloFleet.Cloud.Apis;

/// <summary>GET /api/signing-key: what agents pin in Agent:Models:TrustedKeys.</summary>
public sealed record SigningKeyView(string KeyId, string Algorithm, string PublicKeyPem, string PublicKeyFile);

/// <summary>
/// The model registry over HTTP (docs/registry.md): upload and list models, quantize jobs, artifact downloads (with a
/// device's token, not an API key), the signing key, assignments, and a device's model twin and events. Refusals are
/// problem responses whose detail says what was wrong.
/// </summary>
public static class ModelsApi
{
    public static IEndpointRouteBuilder MapModelsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");
        api.MapPost("/models", UploadAsync).DisableAntiforgery().WithName("UploadModel")
            .WithSummary("Upload an FP32 model (multipart 'manifest' + 'model') as the next version of its name (operator).");
        api.MapGet("/models", ListAsync).WithName("ListModels")
            .WithSummary("Model versions and their variants, by name then newest version first, a page at a time (limit, cursor).");
        api.MapGet("/models/{name}", ListAsync).WithName("ListModelVersions")
            .WithSummary("One model's versions, newest first, a page at a time (limit, cursor).");
        api.MapGet("/models/{name}/{version:int}", GetVersionAsync).WithName("GetModelVersion")
            .WithSummary("A version's variants with their signed manifests and the INT8 report.");
        api.MapPost("/models/{name}/{version:int}/quantize", QuantizeAsync).WithName("QuantizeModel")
            .WithSummary("Start (or find: idempotent by inputs) the INT8 quantize job of a version (operator).");
        api.MapGet("/jobs/{id:long}", GetJobAsync).WithName("GetJob").WithSummary("A quantize job's state, percent and message.");

        // Devices hold no API key: the per-device download token in the URL is the authorisation (checked below).
        api.MapGet("/artifacts/{sha256}", DownloadAsync).AllowAnonymous().WithName("DownloadArtifact")
            .WithSummary("A model file, with Range, for the device its download token names (no API key).");
        api.MapGet("/signing-key", SigningKey).WithName("GetSigningKey").WithSummary("The manifest signing key's id and public key.");
        api.MapPost("/assignments", AssignAsync).WithName("Assign")
            .WithSummary("Assign a model version to devices or a group; per device the variant chosen and why (operator).");
        api.MapGet("/assignments/{assignmentId}", GetAssignmentAsync).WithName("GetAssignment")
            .WithSummary("An assignment: per device the chosen variant, why, and whether it is published.");
        api.MapGet("/devices/{deviceId}/twin", TwinAsync).WithName("GetDeviceTwin")
            .WithSummary("The device's desired against reported model, with the drift.");
        api.MapGet("/devices/{deviceId}/model-events", EventsAsync).WithName("ListModelEvents")
            .WithSummary("The device's acknowledgements of model assignments, newest first, a page at a time (limit, cursor).");
        return app;
    }

    /// <summary>multipart/form-data: "manifest" (JSON, a field or a file) and "model" (the FP32 ONNX file).</summary>
    private static Task<IResult> UploadAsync(HttpRequest request, ModelRegistry registry, ModelRegistryOptions options, CancellationToken cancellationToken) =>
        GuardedAsync(async () =>
        {
            // Kestrel's 30 MB default would refuse models of tens of MB; this endpoint alone takes up to MaxUploadBytes.
            if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = options.MaxUploadBytes + (1024 * 1024);
            }

            if (!request.HasFormContentType)
            {
                return Problem(StatusCodes.Status400BadRequest, "Send multipart/form-data with a 'manifest' part (the manifest JSON) and a 'model' part (the FP32 ONNX file).");
            }

            var form = await request.ReadFormAsync(
                new FormOptions { MultipartBodyLengthLimit = options.MaxUploadBytes + (1024 * 1024), ValueLengthLimit = 1024 * 1024 }, cancellationToken);
            var model = form.Files.GetFile("model");
            var manifest = form["manifest"].ToString();
            if (manifest.Length == 0 && form.Files.GetFile("manifest") is { } manifestFile)
            {
                using var reader = new StreamReader(manifestFile.OpenReadStream());
                manifest = await reader.ReadToEndAsync(cancellationToken);
            }

            if (model is null || manifest.Length == 0)
            {
                return Problem(StatusCodes.Status400BadRequest, $"The upload needs a 'model' file part and a 'manifest' part; it had {(model is null ? "no model" : "no manifest")}.");
            }

            await using var stream = model.OpenReadStream();
            var result = await registry.UploadAsync(stream, manifest, model.FileName, cancellationToken);
            return result.Created
                ? TypedResults.Created($"/api/models/{result.Version.Name}/{result.Version.Version}", result.Version)
                : TypedResults.Ok(result.Version);
        });

    private const string ModelsCursor = "models";
    private const string EventsCursor = "model-events";

    private static async Task<IResult> ListAsync(string? name, int? limit, string? cursor, ModelRegistry registry, CancellationToken cancellationToken)
    {
        if (name is not null && !ModelRegistry.IsValidName(name))
        {
            return Problem(StatusCodes.Status400BadRequest, $"'{name}' is not a model name.");
        }

        if (!Paging.TryLimit(limit, out var take, out var problem) || !Paging.TryCursor(cursor, ModelsCursor, 2, out var key, out problem))
        {
            return problem!;
        }

        (string, int)? after = null;
        if (key is not null)
        {
            if (!int.TryParse(key[1], System.Globalization.CultureInfo.InvariantCulture, out var afterVersion))
            {
                return Paging.BadCursor(ModelsCursor);
            }

            after = (key[0], afterVersion);
        }

        return await GuardedAsync(async () => TypedResults.Ok(Paging.Of(
            await registry.ListPageAsync(name, after, take + 1, cancellationToken), take, ModelsCursor, v => [v.Name, Paging.Text(v.Version)])));
    }

    private static Task<IResult> GetVersionAsync(string name, int version, ModelRegistry registry, CancellationToken cancellationToken) =>
        GuardedAsync(async () => TypedResults.Ok(await registry.GetVersionAsync(name, version, details: true, cancellationToken)));

    private static Task<IResult> QuantizeAsync(string name, int version, QuantizeJobs jobs, CancellationToken cancellationToken) =>
        GuardedAsync(async () =>
        {
            var (job, created) = await jobs.SubmitAsync(name, version, cancellationToken);
            return created ? TypedResults.Accepted($"/api/jobs/{job.Id}", job) : TypedResults.Ok(job);
        });

    private static Task<IResult> GetJobAsync(long id, QuantizeJobs jobs, CancellationToken cancellationToken) =>
        GuardedAsync(async () => TypedResults.Ok(await jobs.GetAsync(id, cancellationToken)));

    /// <summary>
    /// The artifact, with HTTP Range support (resume after a broken download), for the device its token names. The API
    /// key middleware lets this path through; the token is the authorisation.
    /// </summary>
    private static async Task<IResult> DownloadAsync(
        string sha256, string? device, string? expires, string? token, DownloadTokens tokens, IArtifactStore artifacts, DeviceAdmission admission,
        SecurityCounters counters, CancellationToken cancellationToken)
    {
        if (sha256.Length != 64 || !sha256.All(char.IsAsciiHexDigit))
        {
            return Problem(StatusCodes.Status404NotFound, $"'{sha256}' is not an artifact name (a SHA-256 of 64 hex digits).");
        }

        DownloadRefusal? refusal;
        try
        {
            refusal = tokens.Check(sha256, device, expires, token);
        }
        catch (ModelRegistryException ex)
        {
            return Problem(StatusCodes.Status503ServiceUnavailable, ex.Message);
        }

        if (refusal is null && !(DeviceIds.IsValid(device) && await admission.IsAdmittedAsync(device!, cancellationToken)))
        {
            refusal = new DownloadRefusal("device_not_admitted", $"Device '{device}' is not registered or not active.");
        }

        if (refusal is not null)
        {
            counters.Refused(RefusalReasons.ArtifactPrefix + refusal.Code);
            return Problem(StatusCodes.Status403Forbidden, refusal.Detail, "Forbidden");
        }

        try
        {
            var stream = await artifacts.OpenReadAsync(sha256, cancellationToken);
            return TypedResults.File(stream, "application/octet-stream", entityTag: new EntityTagHeaderValue("\"" + sha256.ToLowerInvariant() + "\""), enableRangeProcessing: true);
        }
        catch (ArtifactNotFoundException ex)
        {
            return Problem(StatusCodes.Status404NotFound, ex.Message);
        }
    }

    private static Task<IResult> SigningKey(ManifestSigningKey key) =>
        GuardedAsync(() =>
        {
            var signer = key.Signer;
            return Task.FromResult<IResult>(TypedResults.Ok(
                new SigningKeyView(signer.KeyId, ManifestSigner.Algorithm, signer.PublicKeyPem, ManifestSigningKey.PublicKeyPathFor(Path.GetFullPath(key.KeyFile)))));
        });

    private static Task<IResult> AssignAsync(
        AssignRequest request, AssignmentService assignments, DeviceDirectory devices, RolloutStore rollouts, CancellationToken cancellationToken) =>
        GuardedAsync(async () =>
        {
            // A device in a running or paused rollout takes its model from that rollout alone: a manual assignment would
            // move it behind the gates' back (its frames would count for the wrong group) and the rollout's roll-back would
            // later undo it. The rollout's own stages go through AssignmentService directly, not through this endpoint.
            // A rollout that starts between this check and the assignment below takes the device from then on.
            IReadOnlyCollection<string> named = request.Group is { Length: > 0 } group && DeviceDirectory.IsValidGroup(group)
                ? await devices.ListActiveIdsInGroupAsync(group, cancellationToken)
                : request.Devices ?? [];
            if (named.Count > 0 && await rollouts.FindHoldingAsync(named, cancellationToken) is { } held)
            {
                return Problem(
                    StatusCodes.Status409Conflict,
                    $"Rollout {held.RolloutId} is active over {string.Join(", ", held.HeldDevices)}: it alone assigns their model until it ends. " +
                    $"Abort it (POST /api/rollouts/{held.RolloutId}/abort) or wait for it to complete, then assign.",
                    "Devices held by a rollout");
            }

            var view = await assignments.AssignAsync(request, cancellationToken);
            return TypedResults.Created($"/api/assignments/{view.AssignmentId}", view);
        });

    private static Task<IResult> GetAssignmentAsync(string assignmentId, AssignmentService assignments, CancellationToken cancellationToken) =>
        GuardedAsync(async () => TypedResults.Ok(await assignments.GetAsync(assignmentId, cancellationToken)));

    private static async Task<IResult> TwinAsync(string deviceId, IGrainFactory grains) =>
        DeviceIds.IsValid(deviceId)
            ? TypedResults.Ok(await grains.GetGrain<IDeviceGrain>(deviceId).GetTwinAsync())
            : FleetApi.InvalidDeviceId(deviceId);

    private static async Task<IResult> EventsAsync(string deviceId, int? limit, string? cursor, ModelEventStore events, CancellationToken cancellationToken)
    {
        if (!DeviceIds.IsValid(deviceId))
        {
            return FleetApi.InvalidDeviceId(deviceId);
        }

        if (!Paging.TryLimit(limit, out var take, out var problem) || !Paging.TryCursor(cursor, EventsCursor, 2, out var key, out problem))
        {
            return problem!;
        }

        (DateTimeOffset, long)? before = null;
        if (key is not null)
        {
            if (!Paging.TryTime(key[0], out var receivedAt) || !Paging.TryLong(key[1], out var sequence))
            {
                return Paging.BadCursor(EventsCursor);
            }

            before = (receivedAt, sequence);
        }

        var rows = await events.ListAsync(deviceId, take + 1, before, cancellationToken);
        return TypedResults.Ok(Paging.Of(rows, take, EventsCursor, e => [Paging.Text(e.ReceivedAt), Paging.Text(e.Sequence)]));
    }

    private static async Task<IResult> GuardedAsync(Func<Task<IResult>> handle)
    {
        try
        {
            return await handle();
        }
        catch (ModelRegistryException ex)
        {
            return Problem(ex.Kind switch
            {
                RegistryErrorKind.NotFound => StatusCodes.Status404NotFound,
                RegistryErrorKind.Conflict => StatusCodes.Status409Conflict,
                RegistryErrorKind.TooLarge => StatusCodes.Status413PayloadTooLarge,
                RegistryErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
                _ => StatusCodes.Status400BadRequest,
            }, ex.Message);
        }
        catch (BadHttpRequestException ex)
        {
            return Problem(ex.StatusCode, ex.Message);
        }
        catch (InvalidDataException ex)
        {
            // A malformed multipart body, or one over the form limits.
            return Problem(StatusCodes.Status400BadRequest, ex.Message);
        }
    }

    private static IResult Problem(int status, string detail, string? title = null) => TypedResults.Problem(detail, statusCode: status, title: title);
}
