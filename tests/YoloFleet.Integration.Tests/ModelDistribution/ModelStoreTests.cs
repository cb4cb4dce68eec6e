using System.Text.Json;
using Npgsql;
using YoloFleet.Cloud.Registry.Models;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests.ModelDistribution;

/// <summary>Version numbering and the one-INT8-per-version rule in PostgreSQL, without running a quantizer.</summary>
[Trait("Category", "ModelDistribution")]
public sealed class ModelStoreTests(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private static string Sha(char c) => new(c, 64);

    private static SignedVariant Signed(string precision, int version) =>
        new(JsonSerializer.Serialize(new { precision, version = version.ToString(System.Globalization.CultureInfo.InvariantCulture) }), "p256:0000000000000000");

    [Fact]
    public async Task Uploads_at_once_get_consecutive_numbers_and_a_different_int8_goes_into_a_new_version()
    {
        await using var dataSource = NpgsqlDataSource.Create(database.ConnectionString);
        var store = new ModelStore(dataSource);

        // Eight different files of one name at once: eight versions, 1..8, no number twice.
        var uploads = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            store.InsertFp32Async("concurrent", Sha((char)('0' + i)), 100 + i, _ => false, version => Signed("fp32", version))));
        Assert.Equal(Enumerable.Range(1, 8), uploads.Select(upload => upload.Row.Version).Order());

        var (fp32, _) = await store.InsertFp32Async("variants", Sha('a'), 1000, _ => false, version => Signed("fp32", version));
        var int8 = await store.InsertInt8Async(fp32, Sha('b'), 300, jobId: 1, "{}", version => (Signed("int8", version), Signed("fp32", version)));
        var same = await store.InsertInt8Async(fp32, Sha('b'), 300, jobId: 2, "{}", version => (Signed("int8", version), Signed("fp32", version)));
        var other = await store.InsertInt8Async(fp32, Sha('c'), 310, jobId: 3, "{}", version => (Signed("int8", version), Signed("fp32", version)));

        Assert.Equal((1, 1), (fp32.Version, int8.Version));
        Assert.Equal(int8.Id, same.Id);
        Assert.Equal(2, other.Version);
        var second = await store.VersionAsync("variants", 2);
        Assert.Equal(["fp32", "int8"], second.Select(row => row.Format));
        Assert.Equal((Sha('a'), Sha('c')), (second[0].Sha256, second[1].Sha256));
        Assert.Equal(second[0].Id, second[1].ParentId);
        Assert.Contains("\"2\"", second[0].ManifestJson, StringComparison.Ordinal);
        Assert.Equal(2, (await store.VersionAsync("variants", 1)).Count);
    }
}
