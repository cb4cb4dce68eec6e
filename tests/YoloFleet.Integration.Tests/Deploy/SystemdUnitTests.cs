using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests.Deploy;

/// <summary>
/// deploy/systemd's units and deploy/install.sh. The structure is checked everywhere; systemd-analyze verify runs
/// where it is installed (a CI machine without it still checks everything else).
/// </summary>
[Trait("Category", "Deploy")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SystemdUnitTests : IDisposable
{
    private static readonly string[] Hardening =
    [
        "NoNewPrivileges=true", "ProtectSystem=strict", "ProtectHome=true", "PrivateTmp=true", "ProtectKernelTunables=true",
        "ProtectKernelModules=true", "ProtectControlGroups=true", "RestrictNamespaces=true", "RestrictSUIDSGID=true",
        "LockPersonality=true", "CapabilityBoundingSet=",
    ];

    private readonly string _directory = Directory.CreateTempSubdirectory("yf-units-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void The_agent_unit_has_the_watchdog_a_restart_policy_and_hardening_with_only_its_state_writable()
    {
        var unit = Unit("yolofleet-agent.service");
        Assert.Equal("notify", unit.Single("Service", "Type"));
        Assert.True(int.Parse(unit.Single("Service", "WatchdogSec"), System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.Equal("on-failure", unit.Single("Service", "Restart"));
        Assert.Equal("yolofleet", unit.Single("Service", "User"));
        Assert.Equal("/var/lib/yolofleet-agent", unit.Single("Service", "ReadWritePaths"));
        Assert.Equal("yolofleet-agent", unit.Single("Service", "StateDirectory"));
        Assert.Equal("/etc/yolofleet/agent.env", unit.Single("Service", "EnvironmentFile"));
        Assert.Contains("Agent__StateDirectory=/var/lib/yolofleet-agent", unit.All("Service", "Environment"));
        Assert.All(Hardening, setting => Assert.Contains(setting, unit.Settings("Service")));
        // The .NET JIT needs writable executable memory: this setting would kill the agent at start.
        Assert.DoesNotContain("MemoryDenyWriteExecute=true", unit.Settings("Service"));
        Assert.Equal("multi-user.target", unit.Single("Install", "WantedBy"));
    }

    [Fact]
    public void The_silo_unit_restarts_on_failure_and_is_hardened_the_same_way()
    {
        var unit = Unit("yolofleet-silo.service");
        Assert.Equal("notify", unit.Single("Service", "Type"));
        Assert.Equal("on-failure", unit.Single("Service", "Restart"));
        Assert.Equal("yolofleet", unit.Single("Service", "User"));
        Assert.Equal("/etc/yolofleet/silo.env", unit.Single("Service", "EnvironmentFile"));
        Assert.Equal("yolofleet-silo", unit.Single("Service", "StateDirectory"));
        Assert.Equal("0700", unit.Single("Service", "StateDirectoryMode"));
        Assert.All(Hardening, setting => Assert.Contains(setting, unit.Settings("Service")));
        Assert.DoesNotContain("MemoryDenyWriteExecute=true", unit.Settings("Service"));
    }

    [Fact]
    public async Task Systemd_analyze_verify_accepts_both_units_where_it_is_installed()
    {
        var analyze = new[] { "/usr/bin/systemd-analyze", "/bin/systemd-analyze" }.FirstOrDefault(File.Exists);
        if (analyze is null)
        {
            // Nothing more to prove here without the tool; the structure tests above still ran.
            return;
        }

        foreach (var name in new[] { "yolofleet-agent.service", "yolofleet-silo.service" })
        {
            // verify also checks that ExecStart exists: point it at a stand-in, everything else is the unit as shipped.
            var text = File.ReadAllLines(RepositoryFolder.Path("deploy", "systemd", name))
                .Select(l => l.StartsWith("ExecStart=", StringComparison.Ordinal) ? "ExecStart=/bin/true" : l);
            var copy = Path.Combine(_directory, name);
            await File.WriteAllLinesAsync(copy, text);
            var start = new ProcessStartInfo(analyze) { RedirectStandardError = true, RedirectStandardOutput = true };
            start.ArgumentList.Add("verify");
            start.ArgumentList.Add(copy);
            using var process = Process.Start(start)!;
            var output = await process.StandardError.ReadToEndAsync() + await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(process.ExitCode == 0, $"systemd-analyze verify {name}: {output}");
            // Unknown or malformed settings are only warnings to verify: none may appear.
            Assert.DoesNotContain(name + ":", output, StringComparison.Ordinal);
            Assert.DoesNotContain("Unknown", output, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("Failed to parse", output, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task Install_places_the_units_writes_root_only_settings_once_and_never_overwrites_existing_secrets()
    {
        var root = Path.Combine(_directory, "root");
        var environment = new Dictionary<string, string> { ["DESTDIR"] = root };
        foreach (var role in new[] { "agent", "silo" })
        {
            var run = await ScriptRun.BashAsync(RepositoryFolder.Path("deploy", "install.sh"), [role], environment, TimeSpan.FromSeconds(60));
            Assert.True(run.ExitCode == 0, run.Output);
            Assert.Equal(
                await File.ReadAllTextAsync(RepositoryFolder.Path("deploy", "systemd", $"yolofleet-{role}.service")),
                await File.ReadAllTextAsync(Path.Combine(root, "etc", "systemd", "system", $"yolofleet-{role}.service")));
            Assert.True(Directory.Exists(Path.Combine(root, "opt", $"yolofleet-{role}")));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(root, "etc", "yolofleet", $"{role}.env")));
        }

        // The silo gets only the hash of the operator key, which stays in its own owner-only file.
        var keyFile = Path.Combine(root, "etc", "yolofleet", "operator-api-key");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        var key = (await File.ReadAllTextAsync(keyFile)).Trim();
        Assert.Matches("^yf_[A-Za-z0-9_-]{43}$", key);
        var siloEnv = await File.ReadAllTextAsync(Path.Combine(root, "etc", "yolofleet", "silo.env"));
        Assert.Contains($"Cloud__Api__KeyHashes__0=sha256:{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))}", siloEnv, StringComparison.Ordinal);
        Assert.DoesNotContain(key, siloEnv, StringComparison.Ordinal);

        // An operator's edits (the real secrets) survive a second install; so does the key.
        var agentEnv = Path.Combine(root, "etc", "yolofleet", "agent.env");
        await File.WriteAllTextAsync(agentEnv, "Agent__DeviceId=pi-07\nAgent__Broker__Password=the-real-one\n");
        foreach (var role in new[] { "agent", "silo" })
        {
            var again = await ScriptRun.BashAsync(RepositoryFolder.Path("deploy", "install.sh"), [role], environment, TimeSpan.FromSeconds(60));
            Assert.True(again.ExitCode == 0, again.Output);
            Assert.Contains($"kept existing {Path.Combine(root, "etc", "yolofleet", role + ".env")}", again.Output, StringComparison.Ordinal);
        }

        Assert.Equal("Agent__DeviceId=pi-07\nAgent__Broker__Password=the-real-one\n", await File.ReadAllTextAsync(agentEnv));
        Assert.Equal(key, (await File.ReadAllTextAsync(keyFile)).Trim());
        Assert.Equal(siloEnv, await File.ReadAllTextAsync(Path.Combine(root, "etc", "yolofleet", "silo.env")));

        var wrong = await ScriptRun.BashAsync(RepositoryFolder.Path("deploy", "install.sh"), ["dashboard"], environment, TimeSpan.FromSeconds(60));
        Assert.Equal(2, wrong.ExitCode);
    }

    private static SystemdUnit Unit(string name) => SystemdUnit.Parse(File.ReadAllText(RepositoryFolder.Path("deploy", "systemd", name)));

    /// <summary>A unit file's settings by section, in order (a key may repeat, as Environment= does).</summary>
    private sealed class SystemdUnit
    {
        private readonly List<(string Section, string Key, string Value)> _settings = [];

        public static SystemdUnit Parse(string text)
        {
            var unit = new SystemdUnit();
            var section = "";
            foreach (var raw in text.Split('\n'))
            {
                var line = raw.Trim();
                if (line.Length == 0 || line[0] is '#' or ';')
                {
                    continue;
                }

                if (line[0] == '[')
                {
                    section = line.Trim('[', ']');
                    continue;
                }

                var equals = line.IndexOf('=', StringComparison.Ordinal);
                Assert.True(equals > 0, $"not a setting: '{line}'");
                Assert.NotEqual("", section);
                unit._settings.Add((section, line[..equals].Trim(), line[(equals + 1)..].Trim()));
            }

            return unit;
        }

        public List<string> All(string section, string key) =>
            [.. _settings.Where(s => s.Section == section && s.Key == key).Select(s => s.Value)];

        public string Single(string section, string key) => Assert.Single(All(section, key));

        public List<string> Settings(string section) => [.. _settings.Where(s => s.Section == section).Select(s => $"{s.Key}={s.Value}")];
    }
}
