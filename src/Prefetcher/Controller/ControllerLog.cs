namespace Placement.Prefetcher.Controller;

/// <summary>The controller's log: plain lines on stderr, <c>placement controller: &lt;phase&gt;: &lt;message&gt;</c>.</summary>
internal sealed class ControllerLog(TextWriter writer)
{
    private readonly Lock _gate = new();

    public static ControllerLog StandardError { get; } = new(Console.Error);

    public void Write(string phase, string message)
    {
        lock (_gate)
        {
            writer.WriteLine($"placement controller: {phase}: {message}");
            writer.Flush();
        }
    }
}
