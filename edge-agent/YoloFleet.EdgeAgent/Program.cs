using Microsoft.Extensions.Hosting;
using YoloFleet.EdgeAgent;

// RunAsync disposes the host asynchronously: the MQTT session ends cleanly and the outbox is flushed.
await EdgeAgentHost.Build(args).RunAsync();
return Environment.ExitCode;
