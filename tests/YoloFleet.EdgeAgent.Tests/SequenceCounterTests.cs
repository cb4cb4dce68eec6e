using YoloFleet.EdgeAgent.Publishing;

namespace YoloFleet.EdgeAgent.Tests;

public sealed class SequenceCounterTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "yf-seq-" + Guid.NewGuid().ToString("N"));

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void A_clean_restart_continues_exactly_where_it_stopped()
    {
        using (var counter = new SequenceCounter(_directory, blockSize: 10))
        {
            Assert.Equal(1UL, counter.Next());
            Assert.Equal(2UL, counter.Next());
            Assert.Equal(3UL, counter.Next());
        }

        using var again = new SequenceCounter(_directory, blockSize: 10);
        Assert.Equal(4UL, again.Next());
    }

    [Fact]
    public void A_crash_skips_numbers_but_never_reuses_one()
    {
        var crashed = new SequenceCounter(_directory, blockSize: 10);
        for (var i = 0; i < 13; i++)
        {
            crashed.Next();
        }

        // No Dispose: the reservation on disk covers up to 20.
        using var again = new SequenceCounter(_directory, blockSize: 10);
        Assert.Equal(21UL, again.Next());
    }

    [Fact]
    public void A_lost_sequence_file_never_numbers_below_what_the_outbox_holds()
    {
        using (var counter = new SequenceCounter(_directory, blockSize: 10))
        {
            Assert.Equal(1UL, counter.Next());
        }

        File.Delete(Path.Combine(_directory, "sequence"));
        using var again = new SequenceCounter(_directory, blockSize: 10, above: 57);
        Assert.Equal(58UL, again.Next());
    }

    [Fact]
    public void A_damaged_sequence_file_is_reported_with_the_fix()
    {
        Directory.CreateDirectory(_directory);
        File.WriteAllText(Path.Combine(_directory, "sequence"), "not a number");
        var ex = Assert.Throws<InvalidDataException>(() => new SequenceCounter(_directory));
        Assert.Contains("sequence", ex.Message, StringComparison.Ordinal);
        Assert.Contains("not a number", ex.Message, StringComparison.Ordinal);
    }
}
