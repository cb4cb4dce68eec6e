using System.Web;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using YoloFleet.Cloud.Registry;
using YoloFleet.Cloud.Registry.Signing;

namespace YoloFleet.Cloud.Tests.Registry;

/// <summary>Per-device download tokens: bound to device, artifact and expiry by an HMAC with a secret the silo keeps owner-only.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class DownloadTokensTests : IDisposable
{
    private static readonly string Sha = new('c', 64);

    private readonly TempDirectory _state = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));

    public void Dispose() => _state.Dispose();

    private DownloadTokens Tokens() => new(new ModelRegistryOptions { StateDirectory = _state.Path }, _time, NullLogger<DownloadTokens>.Instance);

    private static (string Device, string Expires, string Token) Parse(string query)
    {
        var values = HttpUtility.ParseQueryString(query);
        return (values["device"]!, values["expires"]!, values["token"]!);
    }

    [Fact]
    public void A_token_opens_its_artifact_for_its_device_until_it_expires()
    {
        var tokens = Tokens();
        var (device, expires, token) = Parse(tokens.QueryFor("pi-7", Sha, _time.GetUtcNow().AddHours(1)));

        Assert.Null(tokens.Check(Sha, device, expires, token));
        Assert.Null(tokens.Check(Sha.ToUpperInvariant(), device, expires, token));
        Assert.Equal(DownloadRefusal.BadToken, tokens.Check(Sha, "pi-8", expires, token)!.Code);
        Assert.Equal(DownloadRefusal.BadToken, tokens.Check(new string('d', 64), device, expires, token)!.Code);
        Assert.Equal(DownloadRefusal.BadToken, tokens.Check(Sha, device, (long.Parse(expires, System.Globalization.CultureInfo.InvariantCulture) + 3600).ToString(System.Globalization.CultureInfo.InvariantCulture), token)!.Code);
        Assert.Equal(DownloadRefusal.BadToken, tokens.Check(Sha, device, expires, (token[0] == 'A' ? "B" : "A") + token[1..])!.Code);
        Assert.Equal(DownloadRefusal.Malformed, tokens.Check(Sha, device, expires, token[..20])!.Code);
        Assert.Equal(DownloadRefusal.Malformed, tokens.Check(Sha, device, "-5", token)!.Code);
        Assert.Equal(DownloadRefusal.Missing, tokens.Check(Sha, device, null, token)!.Code);

        _time.Advance(TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1));
        Assert.Equal(DownloadRefusal.Expired, tokens.Check(Sha, device, expires, token)!.Code);
    }

    [Fact]
    public void The_secret_is_made_once_owner_only_and_every_instance_on_the_state_directory_shares_it()
    {
        var query = Tokens().QueryFor("pi-7", Sha, _time.GetUtcNow().AddDays(1));
        var (device, expires, token) = Parse(query);
        var secret = Path.Combine(_state.Path, "keys", "download-token.key");

        Assert.True(File.Exists(secret));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(secret));
        Assert.Null(Tokens().Check(Sha, device, expires, token));
    }

    [Fact]
    public void Another_secret_refuses_the_tokens_of_the_first()
    {
        var (device, expires, token) = Parse(Tokens().QueryFor("pi-7", Sha, _time.GetUtcNow().AddDays(1)));
        using var other = new TempDirectory();
        var stranger = new DownloadTokens(new ModelRegistryOptions { StateDirectory = other.Path }, _time, NullLogger<DownloadTokens>.Instance);

        Assert.Equal(DownloadRefusal.BadToken, stranger.Check(Sha, device, expires, token)!.Code);
    }
}
