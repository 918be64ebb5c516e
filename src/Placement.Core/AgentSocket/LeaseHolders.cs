namespace Placement.Core.AgentSocket;

/// <summary>
/// Lease holder names for importer requests: <c>pyxis-u&lt;uid&gt;-&lt;job&gt;.&lt;step&gt;</c>. The uid comes from the
/// socket's peer credentials, never from the request, so a user can only ever name (and release) their own leases.
/// </summary>
public static class LeaseHolders
{
    /// <summary>Longest job or step text accepted (Slurm ids are at most 10 digits; array and het-job forms are longer).</summary>
    public const int MaxPartLength = 32;

    public static string ForImporter(int uid, string job, string step) => $"pyxis-u{uid}-{job}.{step}";

    /// <summary>Null when <paramref name="value"/> is a usable job or step id, else what is wrong with it.</summary>
    public static string? Check(string what, string? value)
    {
        if (string.IsNullOrEmpty(value))
            return $"{what} is missing";
        if (value.Length > MaxPartLength || !value.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            return $"{what} '{(value.Length > MaxPartLength ? value[..MaxPartLength] + "…" : value)}' must be at most {MaxPartLength} letters, digits, '_' or '-'";
        return null;
    }
}
