namespace Placement.Core.AgentSocket;

/// <summary>
/// Lease holder names for importer requests: <c>pyxis-u&lt;uid&gt;-&lt;job&gt;.&lt;step&gt;</c>. The uid comes from the
/// socket's peer credentials, never from the request, so a user can only ever name (and release) their own leases.
/// </summary>
public static class LeaseHolders
{
    /// <summary>Longest job or step text accepted (Slurm ids are at most 10 digits; array and het-job forms are longer).</summary>
    public const int MaxPartLength = 32;

    /// <summary>
    /// How long an importer lease protects its image. pyxis calls <c>release</c> once the container is created (enroot
    /// extracts the squashfs) and again at task cleanup, so the image is needed minutes, not for the job; the bound
    /// keeps leases made up by a user (any job and step text) from pinning images for <c>Cache:LeaseTtlSeconds</c>.
    /// </summary>
    public static readonly TimeSpan ImporterTtl = TimeSpan.FromHours(1);

    /// <summary>
    /// Importer leases one user may hold on a node at once; a new one drops that user's oldest (normally a step
    /// killed before its release), so the bound never fails a job.
    /// </summary>
    public const int MaxImporterLeasesPerUser = 16;

    public static string ForImporter(int uid, string job, string step) => $"{ImporterPrefix(uid)}{job}.{step}";

    /// <summary>The start of every importer holder name of <paramref name="uid"/>.</summary>
    public static string ImporterPrefix(int uid) => $"pyxis-u{uid}-";

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
