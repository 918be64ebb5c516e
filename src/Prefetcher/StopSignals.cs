using System.Runtime.InteropServices;

namespace Placement.Prefetcher;

/// <summary>
/// A daemon's stop: cancelled by SIGTERM (systemd, the dev cluster), SIGINT (a terminal) or the caller's token, so the
/// daemon finishes what it is doing (answers, leases, logs) instead of being killed by the runtime's default handler.
/// </summary>
internal sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _stop;
    private readonly PosixSignalRegistration _term;
    private readonly PosixSignalRegistration _interrupt;

    public StopSignals(CancellationToken outer)
    {
        _stop = CancellationTokenSource.CreateLinkedTokenSource(outer);
        _term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
    }

    public CancellationToken Token => _stop.Token;

    public Task CancelAsync() => _stop.CancelAsync();

    private void Stop(PosixSignalContext context)
    {
        context.Cancel = true;
        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        _term.Dispose();
        _interrupt.Dispose();
        _stop.Dispose();
    }
}
