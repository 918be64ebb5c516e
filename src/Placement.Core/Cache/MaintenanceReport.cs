namespace Placement.Core.Cache;

/// <summary>What `placement gc` or `placement verify` did (or would do), one line per action.</summary>
public sealed record MaintenanceReport(IReadOnlyList<string> Lines, int Corrupt = 0);
