namespace Placement.Tests.Support;

/// <summary>Test content for file images: Placement caches only files that start like squashfs or SIF.</summary>
internal static class FakeImages
{
    /// <summary><paramref name="size"/> seeded random bytes that start with the squashfs magic "hsqs".</summary>
    public static byte[] Squashfs(int size, int seed) => Stamp(Fill(size, new Random(seed)));

    /// <summary>Overwrites the first bytes with the squashfs magic; returns <paramref name="bytes"/>.</summary>
    public static byte[] Stamp(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        "hsqs"u8.CopyTo(bytes);
        return bytes;
    }

    private static byte[] Fill(int size, Random random)
    {
        var bytes = new byte[size];
        random.NextBytes(bytes);
        return bytes;
    }
}
