using Placement.Core.Cache;

namespace Placement.Tests.Cache;

/// <summary>One image may unpack to at most the cache's cap in bytes, and in entries to the same share of the filesystem's inodes or half of its free ones.</summary>
public sealed class RootfsBoundSpecs
{
    private const long Filesystem = 100L << 30;

    [Test]
    public void A_percentage_cap_bounds_an_image_to_that_share_of_the_filesystem_in_bytes_and_inodes()
    {
        var bound = RootfsBound.For("85%", Filesystem, 6_553_600, 6_000_000);
        Assert.That(bound.Bytes, Is.EqualTo((long)(Filesystem * 0.85)));
        Assert.That(bound.Entries, Is.EqualTo(5_570_560));
    }

    [Test]
    public void A_byte_cap_bounds_an_image_to_those_bytes_and_their_share_of_the_inodes()
    {
        var bound = RootfsBound.For("10GiB", Filesystem, 6_553_600, 1_000_000);
        Assert.That(bound.Bytes, Is.EqualTo(10L << 30));
        Assert.That(bound.Entries, Is.EqualTo(655_360));
        Assert.That(RootfsBound.For("1TiB", Filesystem, 6_553_600, 6_000_000).Entries, Is.EqualTo(6_553_600), "never more than the filesystem's inodes");
    }

    [Test]
    public void On_a_filesystem_with_few_inodes_an_image_may_use_half_of_the_free_ones_when_that_is_more_than_its_share()
    {
        const long largefile = 1L << 40; // 1 TiB made with `mkfs.ext4 -T largefile`: one inode per MiB
        var free = RootfsBound.For("100GiB", largefile, 1_048_576, 1_000_000);
        Assert.That((free.Entries, free.EntriesFrom), Is.EqualTo((500_000L, RootfsBound.EntryTerm.FreeInodes)), "half of the free inodes, not the 102,400 share");
        Assert.That(free.Advice, Does.Contain("in at most 500000 entries (half of the cache filesystem's free inodes now, more than that share of its " +
                                              "inodes: freeing inodes there raises it), the most the cache keeps"));
        Assert.That(RootfsBound.For("100GiB", largefile, 1_048_576, 100_000).Entries, Is.EqualTo(102_400), "the share, when half of the free inodes is less");
        Assert.That(RootfsBound.For("100GiB", largefile, 1_048_576, long.MaxValue).Entries, Is.EqualTo(524_288), "free inodes never count above the total");
    }

    [Test]
    public void The_free_inodes_never_let_an_image_have_more_than_one_entry_per_16_KiB_of_the_cap()
    {
        // A 10 MiB cap on a 100 GiB filesystem with six million free inodes: half of them would let three million
        // zero-byte files (a 4 KiB block each wherever they hold a byte) take gigabytes for a cap of megabytes.
        var bound = RootfsBound.For("10MiB", Filesystem, 6_553_600, 6_000_000);
        Assert.That(bound.Entries, Is.EqualTo(640), "the share (10 MiB of 100 GiB of 6,553,600) and the density (10 MiB / 16 KiB) agree here");
        Assert.That(bound.EntriesFrom, Is.EqualTo(RootfsBound.EntryTerm.Share));
        const long largefile = 1L << 40;
        var few = RootfsBound.For("1GiB", largefile, 1_048_576, 1_000_000);
        Assert.That((few.Entries, few.EntriesFrom), Is.EqualTo((65_536L, RootfsBound.EntryTerm.Density)), "1 GiB / 16 KiB, less than half of the free inodes, more than the 1,024 share");
        Assert.That(few.Advice, Does.Contain("in at most 65536 entries (one per 16 KiB of the cap, more than that share of the cache filesystem's inodes " +
                                             "and less than half of its free ones), the most the cache keeps"), "freeing inodes would not raise it: the message must not say so");
    }

    [Test]
    public void What_the_filesystem_does_not_tell_is_not_bounded()
    {
        Assert.That(RootfsBound.For("10GiB", Filesystem, 0, 0).Entries, Is.EqualTo(long.MaxValue), "btrfs reports no inode count");
        var unknown = RootfsBound.For("85%", 0, 0, 0);
        Assert.That((unknown.Bytes, unknown.Entries), Is.EqualTo((long.MaxValue, long.MaxValue)), "statvfs failed: no share to take");
        Assert.That(RootfsBound.For("10GiB", 0, 0, 0).Bytes, Is.EqualTo(10L << 30));
    }

    [Test]
    public void The_advice_names_the_setting_its_value_here_and_what_to_do()
    {
        Assert.That(RootfsBound.For(" 1MiB ", Filesystem, 6_553_600, 0).Advice, Is.EqualTo(
            "one image may unpack to at most Cache:HighWatermark '1MiB' (1.0 MiB on this node), in at most 64 entries (that share of the cache " +
            "filesystem's inodes), the most the cache keeps (the image is unpacked inside it); raise Cache:HighWatermark to cache this image, " +
            "or use a smaller image. Nothing was cached, the cache is unchanged"));
    }

    [Test]
    public void The_advice_for_an_image_stored_as_one_file_names_the_same_setting_and_what_it_allows_here()
    {
        var bound = RootfsBound.For("1MiB", Filesystem, 6_553_600, 0);
        Assert.That(bound.Exceeded, Is.EqualTo("more than 1.0 MiB (1048576 bytes), the bound on one image"));
        Assert.That(bound.ArtifactAdvice, Is.EqualTo(
            "one image may take at most Cache:HighWatermark '1MiB' (1.0 MiB on this node), the most the cache keeps (the image is stored inside it); " +
            "raise Cache:HighWatermark to cache this image, or use a smaller image. Nothing was cached, the cache is unchanged"));
    }
}
