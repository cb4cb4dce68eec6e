using YoloFleet.Cloud;

// Schema migrations are not run here: apply them first with `yolofleet db migrate`.
var app = CloudHost.Build(args);
await app.RunAsync();
