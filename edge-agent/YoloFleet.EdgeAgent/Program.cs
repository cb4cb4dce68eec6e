using Microsoft.Extensions.Hosting;
using YoloFleet.EdgeAgent;

using var host = EdgeAgentHost.Build(args);
await host.RunAsync();
return Environment.ExitCode;
