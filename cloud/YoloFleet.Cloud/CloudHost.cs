using YoloFleet.Cloud.Apis;
using YoloFleet.Cloud.Dashboard;
using YoloFleet.Cloud.Extensions;
using YoloFleet.Cloud.Security;

namespace YoloFleet.Cloud;

/// <summary>Builds the silo host; Program.cs, the CLI's demo and the tests share it.</summary>
public static class CloudHost
{
    public static WebApplication Build(string[] args, IEnumerable<KeyValuePair<string, string?>>? overrides = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        if (overrides is not null)
        {
            builder.Configuration.AddInMemoryCollection(overrides);
        }

        builder.AddFleetCloud();
        builder.AddDashboard();
        var app = builder.Build();
        app.UseApiProblemDetails();
        app.UseOperatorAuthorization();
        app.MapFleetOpenApi();
        app.MapFleetApi();
        app.MapRegistryApi();
        app.MapModelsApi();
        app.MapDeliveryApi();
        app.MapRolloutsApi();
        app.MapSceneApi();
        app.MapDetectionsApi();
        app.MapAnalyticsApi();
        app.MapDashboard();
        return app;
    }
}
