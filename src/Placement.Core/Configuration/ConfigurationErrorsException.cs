namespace Placement.Core.Configuration;

/// <summary>The configuration is invalid. <see cref="Errors"/> lists every problem found, each naming the key and its value.</summary>
public sealed class ConfigurationErrorsException : Exception
{
    public ConfigurationErrorsException(string source, IReadOnlyList<string> errors)
        : base($"invalid configuration ({source}): {errors.Count} error(s):" + Environment.NewLine +
               string.Join(Environment.NewLine, errors.Select(e => "  - " + e)))
    {
        Source = source;
        Errors = errors;
    }

    /// <summary>Where the configuration came from (file path and environment prefix).</summary>
    public new string Source { get; }

    public IReadOnlyList<string> Errors { get; }
}
