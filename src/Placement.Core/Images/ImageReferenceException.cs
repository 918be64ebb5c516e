namespace Placement.Core.Images;

/// <summary>
/// A text is not an image reference this system accepts. <see cref="Exception.Message"/> is the whole
/// user-facing error: the (escaped, truncated) input, the specific reason and the accepted forms.
/// </summary>
public sealed class ImageReferenceException : FormatException
{
    /// <summary>The list of accepted forms every message ends with.</summary>
    internal const string AcceptedForms =
        "Accepted forms: docker://[host[:port]/]repo[:tag][@sha256:<64 hex>], " +
        "[user@][host[:port]#]repo[:tag] (enroot/pyxis), " +
        "https://host/path/image.sif|.sqsh[#sha256=<64 hex>], " +
        "/absolute/path or file:///absolute/path";

    /// <summary>Creates the exception for <paramref name="input"/> rejected because of <paramref name="reason"/>.</summary>
    public ImageReferenceException(string input, string reason)
        : base(FormatMessage(input, reason))
    {
        Input = input;
        Reason = reason;
    }

    /// <summary>The text as given (not escaped; may contain credentials or control characters — do not log it raw).</summary>
    public string Input { get; }

    /// <summary>The specific reason, e.g. <c>tag 'x y' contains ' '</c>.</summary>
    public string Reason { get; }

    internal static string FormatMessage(string input, string reason) =>
        $"invalid image reference {ReferenceText.QuoteInput(input ?? "")}: {reason}. {AcceptedForms}";
}
