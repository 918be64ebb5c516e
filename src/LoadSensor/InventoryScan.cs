namespace Placement.LoadSensor;

/// <summary>
/// What one read of inventory.json yielded. <see cref="Problem"/> is null when the file was read completely;
/// otherwise it says what was wrong, and the other fields hold what could be read before the damage.
/// </summary>
internal sealed class InventoryScan
{
    /// <summary>Bytes used by the cache, or null when the file did not say (missing, or damaged before that field).</summary>
    public long? CacheBytes { get; set; }

    /// <summary>Free bytes on the cache filesystem as the file recorded them, or null.</summary>
    public long? FreeBytes { get; set; }

    /// <summary>Scheduler ids (with the img_ prefix) of complete image entries, in file order: pinned first, then most recently used.</summary>
    public List<string> Ids { get; } = [];

    /// <summary>Why the file was not read completely, for the sensor's stderr; null when it was.</summary>
    public string? Problem { get; set; }
}
