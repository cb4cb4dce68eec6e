using System.CommandLine;
using YoloFleet.Cli.Verbs;

var root = new RootCommand("yolofleet: YOLO detection on an edge fleet, with the cloud in the loop.")
{
    DemoVerb.Create(),
    DatabaseVerb.Create(),
    DevicesVerb.Create(),
    ModelsVerb.Create(),
    AssignVerb.Create(),
    RolloutVerb.Create(),
    QueryVerb.Create(),
    AnalyticsBenchVerb.Create(),
    RolloutBenchVerb.Create(),
    SigningKeyVerb.Create(),
    VerifyBenchVerb.Create(),
    EvalVerb.Create(),
    BenchVerb.Create(),
    DetectVerb.Create(),
    QuantizeVerb.Create(),
    Int8LimitVerb.Create(),
    ProfileVerb.Create(),
    ApiKeyVerb.Create(),
    IngestBenchVerb.Create(),
    SiloVerb.Create(),
    SceneBenchVerb.Create(),
};
return await root.Parse(args).InvokeAsync();
