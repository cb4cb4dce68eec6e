using System.CommandLine;
using YoloFleet.Cloud;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet silo [--Cloud:Key=value ...]`: runs a silo host in this process, exactly as yolofleet-silo does. Hidden: the
/// ingest bench starts its silos this way, so it needs only this one executable.
/// </summary>
internal static class SiloVerb
{
    public static Command Create()
    {
        var settings = new Argument<string[]>("settings") { Description = "Configuration overrides, e.g. --Cloud:Database=...", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("silo", "Run a silo host (as yolofleet-silo) with configuration from arguments.") { settings };
        command.Hidden = true;
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parse, cancellationToken) =>
        {
            string[] args = [.. parse.GetValue(settings) ?? [], .. parse.UnmatchedTokens];
            var app = CloudHost.Build(args);
            await Microsoft.Extensions.Hosting.HostingAbstractionsHostExtensions.RunAsync(app, cancellationToken);
            return 0;
        });
        return command;
    }
}
