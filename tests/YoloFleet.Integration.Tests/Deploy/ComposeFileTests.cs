using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests.Deploy;

/// <summary>
/// docker-compose.yml and the Dockerfiles, checked as files: no Docker engine runs in CI, so the structure is what can
/// be proven here (the same topology runs for real in <see cref="TopologyTests"/>).
/// </summary>
[Trait("Category", "Deploy")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ComposeFileTests
{
    private readonly Dictionary<string, object?> _compose = Load();

    private Dictionary<string, object?> Services => Map(_compose["services"]);

    [Fact]
    public void The_topology_has_the_database_redis_the_broker_a_migration_two_silos_and_several_agents()
    {
        var services = Services;
        foreach (var name in new[] { "postgres", "redis", "mosquitto", "migrate" })
        {
            Assert.True(services.ContainsKey(name), $"no service '{name}' in docker-compose.yml");
        }

        var silos = SilosOf(services);
        var agents = AgentsOf(services);
        Assert.True(silos.Count >= 2, "silos: " + string.Join(", ", silos.Keys));
        Assert.True(agents.Count >= 2, "agents: " + string.Join(", ", agents.Keys));

        // One cluster: the same cluster id and membership store, each silo reachable at its own address.
        Assert.Single(silos.Values.Select(s => Env(s)["Cloud__Silo__ClusterId"]).Distinct());
        Assert.Single(silos.Values.Select(s => Env(s)["Cloud__Silo__Redis"]).Distinct());
        Assert.Equal(silos.Count, silos.Values.Select(s => Env(s)["Cloud__Silo__AdvertisedAddress"]).Distinct().Count());
        Assert.All(silos.Values, s => Assert.Equal("Redis", Env(s)["Cloud__Silo__Clustering"]));

        // Devices: each its own id, logging in as itself with its own password, on a looping video.
        Assert.Equal(agents.Count, agents.Values.Select(a => Env(a)["Agent__DeviceId"]).Distinct().Count());
        Assert.Equal(agents.Count, agents.Values.Select(a => Env(a)["Agent__Broker__Password_FILE"]).Distinct().Count());
        Assert.All(agents.Values, a =>
        {
            var env = Env(a);
            Assert.Equal(env["Agent__DeviceId"], env["Agent__Broker__Username"]);
            Assert.EndsWith(".avi", env["Agent__Source__Video"], StringComparison.Ordinal);
            Assert.Equal("true", env["Agent__Source__Loop"]);
        });

        // The migration registers every agent the file runs.
        var migrate = string.Join(' ', List(Services["migrate"].AsMap()["entrypoint"]));
        Assert.All(agents.Values, a => Assert.Contains(Env(a)["Agent__DeviceId"], migrate, StringComparison.Ordinal));

        // Every dependency names a service, and the silos wait for the migration to succeed.
        foreach (var (name, service) in services)
        {
            if (service.AsMap().TryGetValue("depends_on", out var dependsOn))
            {
                Assert.All(Map(dependsOn).Keys, d => Assert.True(services.ContainsKey(d), $"{name} depends on unknown service {d}"));
            }
        }

        Assert.All(silos.Values, s => Assert.Equal("service_completed_successfully", Map(Map(s["depends_on"])["migrate"])["condition"]));
    }

    [Fact]
    public void Every_long_running_service_has_a_health_check_and_the_one_shot_migration_is_marked_as_such()
    {
        foreach (var (name, value) in Services)
        {
            var service = value.AsMap();
            var healthcheck = Map(service["healthcheck"]);
            if (name == "migrate")
            {
                Assert.Equal("true", healthcheck["disable"]);
                Assert.Equal("no", service["restart"]);
                continue;
            }

            var test = List(healthcheck["test"]);
            Assert.True(test.Count >= 2 && test[0] is "CMD" or "CMD-SHELL", $"{name}: healthcheck.test is {string.Join(' ', test)}");
            Assert.True(healthcheck.ContainsKey("interval") && healthcheck.ContainsKey("retries"), $"{name}: healthcheck without interval/retries");
        }

        Assert.All(SilosOf(Services).Values, s => Assert.Contains("/healthz", string.Join(' ', List(Map(s["healthcheck"])["test"])), StringComparison.Ordinal));
        Assert.All(AgentsOf(Services).Values, a =>
        {
            Assert.Contains("alive", string.Join(' ', List(Map(a["healthcheck"])["test"])), StringComparison.Ordinal);
            Assert.Equal("alive", Env(a)["Agent__Liveness__File"]);
        });
    }

    [Fact]
    public void Secrets_come_from_git_ignored_files_through_compose_secrets_and_no_password_is_written_in_the_file()
    {
        var declared = Map(_compose["secrets"]);
        Assert.True(declared.Count >= 8, "secrets: " + string.Join(", ", declared.Keys));
        var ignored = File.ReadAllLines(RepositoryFolder.Path(".gitignore"));
        Assert.Contains(".state/", ignored);
        foreach (var (name, secret) in declared)
        {
            var file = (string)Map(secret)["file"]!;
            Assert.True(file.StartsWith("./.state/", StringComparison.Ordinal), $"secret {name} is read from {file}, not the git-ignored .state/");
        }

        foreach (var (name, value) in Services)
        {
            var service = value.AsMap();
            var secrets = service.TryGetValue("secrets", out var s) ? List(s).ToHashSet() : [];
            Assert.All(secrets, secret => Assert.True(declared.ContainsKey(secret), $"{name} uses undeclared secret {secret}"));
            foreach (var (key, setting) in Env(service))
            {
                // A password's value is never in the file: only where to read it from (a secret of this service).
                Assert.DoesNotContain("Password=", setting, StringComparison.OrdinalIgnoreCase);
                Assert.DoesNotContain("password=", setting, StringComparison.Ordinal);
                if (key.Contains("PASSWORD", StringComparison.OrdinalIgnoreCase) || key.Contains("KeyHashes", StringComparison.Ordinal))
                {
                    Assert.True(key.EndsWith("_FILE", StringComparison.Ordinal), $"{name}: {key} holds a secret directly; use {key}_FILE and a compose secret");
                }

                if (key.EndsWith("_FILE", StringComparison.Ordinal) || setting.StartsWith("/run/secrets/", StringComparison.Ordinal))
                {
                    Assert.StartsWith("/run/secrets/", setting, StringComparison.Ordinal);
                    Assert.True(secrets.Contains(setting["/run/secrets/".Length..]), $"{name}: {key} reads {setting}, which is not one of its secrets");
                }
            }
        }

        Assert.Equal("/run/secrets/db_password", Env(Services["postgres"].AsMap())["POSTGRES_PASSWORD_FILE"]);
    }

    [Fact]
    public async Task Topology_sh_secrets_generates_every_file_the_compose_file_names_owner_only()
    {
        var state = Directory.CreateTempSubdirectory("yf-compose-secrets-").FullName;
        try
        {
            // As the compose file's header says, with .state/compose replaced by a folder of the test's own.
            var run = await ScriptRun.BashAsync(
                RepositoryFolder.Path("deploy", "topology.sh"), ["secrets"], new Dictionary<string, string> { ["YOLOFLEET_TOPOLOGY_DIR"] = state }, TimeSpan.FromSeconds(60));
            Assert.True(run.ExitCode == 0, run.Output);
            var files = Map(_compose["secrets"]).Values.Concat(Map(_compose["configs"]).Values).Select(v => (string)Map(v)["file"]!).ToList();
            foreach (var file in files)
            {
                Assert.StartsWith("./.state/compose/", file, StringComparison.Ordinal);
                var generated = Path.Combine(state, file["./.state/compose/".Length..]);
                Assert.True(File.Exists(generated) && new FileInfo(generated).Length > 0, $"{file} is not generated by topology.sh secrets");
                if (!generated.EndsWith(".pub.pem", StringComparison.Ordinal))
                {
                    Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(generated));
                }
            }

            // Run again: nothing is regenerated (a restart keeps every credential).
            var before = files.ToDictionary(f => f, f => File.ReadAllText(Path.Combine(state, f["./.state/compose/".Length..])));
            var again = await ScriptRun.BashAsync(
                RepositoryFolder.Path("deploy", "topology.sh"), ["secrets"], new Dictionary<string, string> { ["YOLOFLEET_TOPOLOGY_DIR"] = state }, TimeSpan.FromSeconds(60));
            Assert.True(again.ExitCode == 0, again.Output);
            Assert.All(before, kv => Assert.Equal(kv.Value, File.ReadAllText(Path.Combine(state, kv.Key["./.state/compose/".Length..]))));
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    [Fact]
    public void The_database_and_the_broker_keep_their_data_in_volumes_and_only_the_silo_api_is_published_on_loopback()
    {
        var volumes = Map(_compose["volumes"]);
        Assert.Equal("/var/lib/postgresql/data", NamedVolumeTarget(Services["postgres"].AsMap(), volumes, "pgdata"));
        Assert.Equal("/mosquitto/data", NamedVolumeTarget(Services["mosquitto"].AsMap(), volumes, "mqttdata"));

        var broker = File.ReadAllLines(RepositoryFolder.Path("deploy", "docker", "mosquitto.conf")).Select(l => l.Trim()).ToList();
        Assert.Contains("persistence true", broker);
        Assert.Contains("persistence_location /mosquitto/data/", broker);
        Assert.Contains("allow_anonymous false", broker);
        Assert.Contains("acl_file /mosquitto/config/yolofleet.acl", broker);
        Assert.Contains("use_username_as_clientid true", broker);
        Assert.Contains(List(Services["mosquitto"].AsMap()["volumes"]), v => v.StartsWith("./deploy/mosquitto/production.acl:", StringComparison.Ordinal));

        foreach (var (name, value) in Services)
        {
            if (value.AsMap().TryGetValue("ports", out var ports))
            {
                Assert.True(SilosOf(Services).ContainsKey(name), $"{name} publishes ports; only the silos' API is published");
                Assert.All(List(ports), p => Assert.StartsWith("127.0.0.1:", p, StringComparison.Ordinal));
            }
        }
    }

    [Fact]
    public void The_images_are_multi_stage_and_run_as_an_unprivileged_user()
    {
        var dockerfiles = Services.Values.Select(s => s.AsMap()).Where(s => s.ContainsKey("build"))
            .Select(s => (string)Map(s["build"])["dockerfile"]!).Distinct().ToList();
        Assert.Equal(["deploy/docker/Dockerfile.agent", "deploy/docker/Dockerfile.silo"], dockerfiles.Order(StringComparer.Ordinal));
        foreach (var dockerfile in dockerfiles)
        {
            var lines = Instructions(File.ReadAllText(RepositoryFolder.Path(dockerfile)));
            var froms = lines.Select((l, i) => (l, i)).Where(x => x.l.StartsWith("FROM ", StringComparison.OrdinalIgnoreCase)).ToList();
            Assert.True(froms.Count >= 2, $"{dockerfile}: not multi-stage");
            Assert.Contains(" AS build", froms[0].l, StringComparison.OrdinalIgnoreCase);
            Assert.Contains(lines, l => l.StartsWith("COPY --from=build", StringComparison.OrdinalIgnoreCase));

            // The final stage switches to a user that is not root, and nothing after switches back.
            var final = lines.Skip(froms[^1].i).ToList();
            var users = final.Where(l => l.StartsWith("USER ", StringComparison.OrdinalIgnoreCase)).Select(l => l[5..].Trim()).ToList();
            Assert.True(users.Count > 0, $"{dockerfile}: the final stage has no USER, so it runs as root");
            var user = users[^1].Split(':')[0];
            Assert.NotEqual("root", user);
            Assert.NotEqual("0", user);
            Assert.Contains(final, l => l.StartsWith("HEALTHCHECK ", StringComparison.OrdinalIgnoreCase));
            Assert.Contains(final, l => l.StartsWith("ENTRYPOINT [\"secrets-entrypoint\"", StringComparison.OrdinalIgnoreCase));
        }

        // The build context leaves secrets and build outputs out.
        var ignored = File.ReadAllLines(RepositoryFolder.Path(".dockerignore"));
        Assert.Contains(".state/", ignored);
        Assert.Contains("**/bin/", ignored);
    }

    [Fact]
    public async Task The_entry_point_turns_secret_files_into_settings_without_a_command_line()
    {
        var directory = Directory.CreateTempSubdirectory("yf-entry-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(directory, "mqtt"), "s3cret-mqtt");
            await File.WriteAllTextAsync(Path.Combine(directory, "db"), "s3cret-db\n");
            // With sh (dash on the Debian-based images), as the images run it.
            var run = await ScriptRun.RunAsync(
                "sh",
                [RepositoryFolder.Path("deploy", "docker", "secrets-entrypoint.sh"), "sh", "-c", "env | sort"],
                new Dictionary<string, string>
                {
                    ["Cloud__Mqtt__Password_FILE"] = Path.Combine(directory, "mqtt"),
                    ["YOLOFLEET_DB_PASSWORD_FILE"] = Path.Combine(directory, "db"),
                    ["Cloud__Database"] = "Host=postgres;Username=postgres;Database=yolofleet",
                },
                TimeSpan.FromSeconds(30));
            Assert.True(run.ExitCode == 0, run.Output);
            var env = run.Output.Split('\n');
            Assert.Contains("Cloud__Mqtt__Password=s3cret-mqtt", env);
            Assert.Contains("Cloud__Database=Host=postgres;Username=postgres;Database=yolofleet;Password=s3cret-db", env);
            Assert.DoesNotContain(env, l => l.StartsWith("Cloud__Mqtt__Password_FILE=", StringComparison.Ordinal));
            Assert.DoesNotContain(env, l => l.StartsWith("YOLOFLEET_DB_PASSWORD", StringComparison.Ordinal));

            // A secret file that is not there stops the container with the setting's name, before the process starts.
            var missing = await ScriptRun.RunAsync(
                "sh",
                [RepositoryFolder.Path("deploy", "docker", "secrets-entrypoint.sh"), "true"],
                new Dictionary<string, string> { ["Agent__Broker__Password_FILE"] = Path.Combine(directory, "absent") },
                TimeSpan.FromSeconds(30));
            Assert.Equal(64, missing.ExitCode);
            Assert.Contains("Agent__Broker__Password_FILE", missing.Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static Dictionary<string, object?> Load()
    {
        using var reader = new StringReader(File.ReadAllText(RepositoryFolder.Path("docker-compose.yml")));
        // The merging parser resolves the file's "<<: *silo" / "<<: *agent" merge keys, as compose does.
        var parser = new MergingParser(new Parser(reader));
        var root = new DeserializerBuilder().Build().Deserialize<Dictionary<object, object?>>(parser);
        return Map(root);
    }

    private static Dictionary<string, Dictionary<string, object?>> SilosOf(Dictionary<string, object?> services) =>
        ServicesWithImage(services, "yolofleet-silo").Where(s => s.Key != "migrate").ToDictionary();

    private static Dictionary<string, Dictionary<string, object?>> AgentsOf(Dictionary<string, object?> services) =>
        ServicesWithImage(services, "yolofleet-agent").ToDictionary();

    private static IEnumerable<KeyValuePair<string, Dictionary<string, object?>>> ServicesWithImage(Dictionary<string, object?> services, string image) =>
        services.Select(s => KeyValuePair.Create(s.Key, s.Value.AsMap()))
            .Where(s => s.Value.TryGetValue("image", out var i) && ((string)i!).StartsWith(image + ":", StringComparison.Ordinal));

    private static Dictionary<string, string> Env(Dictionary<string, object?> service) =>
        service.TryGetValue("environment", out var env) ? Map(env).ToDictionary(kv => kv.Key, kv => (string)kv.Value!) : [];

    private static string NamedVolumeTarget(Dictionary<string, object?> service, Dictionary<string, object?> volumes, string volume)
    {
        Assert.True(volumes.ContainsKey(volume), $"volume {volume} is not declared");
        var mount = List(service["volumes"]).Single(v => v.StartsWith(volume + ":", StringComparison.Ordinal));
        return mount.Split(':')[1];
    }

    /// <summary>Dockerfile instructions, one per entry: comments dropped, continuation lines joined.</summary>
    private static List<string> Instructions(string dockerfile)
    {
        var instructions = new List<string>();
        var current = "";
        foreach (var raw in dockerfile.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith('#') || (line.Length == 0 && current.Length == 0))
            {
                continue;
            }

            current += line.TrimEnd('\\').Trim() + " ";
            if (!line.EndsWith('\\'))
            {
                instructions.Add(current.Trim());
                current = "";
            }
        }

        return instructions;
    }

    internal static Dictionary<string, object?> Map(object? node) =>
        node is Dictionary<object, object?> map
            ? map.ToDictionary(kv => (string)kv.Key, kv => kv.Value)
            : throw new InvalidOperationException($"expected a mapping, got {node?.GetType().Name ?? "nothing"}");

    private static List<string> List(object? node) =>
        node is List<object?> list ? [.. list.Select(i => (string)i!)] : throw new InvalidOperationException($"expected a list, got {node?.GetType().Name ?? "nothing"}");
}

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static class ComposeNodes
{
    public static Dictionary<string, object?> AsMap(this object? node) => ComposeFileTests.Map(node);
}
