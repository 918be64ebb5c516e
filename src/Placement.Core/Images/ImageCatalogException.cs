namespace Placement.Core.Images;

/// <summary>
/// The admin image catalog in the configuration has errors. All of them are collected and listed,
/// so that one round of editing fixes the whole catalog.
/// </summary>
public sealed class ImageCatalogException : Exception
{
    /// <summary>Creates the exception from a non-empty list of errors, one line each.</summary>
    public ImageCatalogException(IReadOnlyList<string> errors)
        : base(FormatMessage(errors))
    {
        Errors = errors.ToArray().AsReadOnly();
    }

    /// <summary>Every problem found, in catalog order; each names the alias and the bad value.</summary>
    public IReadOnlyList<string> Errors { get; }

    private static string FormatMessage(IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        var noun = errors.Count == 1 ? "error" : "errors";
        return $"image catalog has {errors.Count} {noun}:" + string.Concat(errors.Select(e => "\n  - " + e));
    }
}
