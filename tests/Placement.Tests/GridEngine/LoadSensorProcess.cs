using System.Diagnostics;
using Placement.Tests.Support;

namespace Placement.Tests.GridEngine;

/// <summary>
/// The real placement-load-sensor (out/bin) as sge_execd drives it: a child process fed lines on stdin, answering
/// reports on stdout. Reports are read back line by line and checked for the protocol's shape.
/// </summary>
internal sealed class LoadSensorProcess : IDisposable
{
    private readonly Process _process;
    private readonly Task<string> _stderr;

    public LoadSensorProcess(string inventory, string host = "testhost")
    {
        var info = new ProcessStartInfo(Repo.LoadSensorBinary, ["--inventory", inventory])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["HOST"] = host;
        info.Environment["PLACEMENT_CONFIG"] = null;
        _process = Process.Start(info)!;
        _stderr = _process.StandardError.ReadToEndAsync();
        Host = host;
    }

    public string Host { get; }

    public void Send(string text)
    {
        _process.StandardInput.Write(text);
        _process.StandardInput.Flush();
    }

    public void CloseInput() => _process.StandardInput.Close();

    /// <summary>Reads one report (begin … end) and returns its body lines; fails the test if it is malformed.</summary>
    public async Task<List<string>> ReadReportAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var first = await _process.StandardOutput.ReadLineAsync(timeout.Token);
        Assert.That(first, Is.EqualTo("begin"), "a report starts with begin");
        var body = new List<string>();
        while (await _process.StandardOutput.ReadLineAsync(timeout.Token) is { } line && line != "end")
        {
            Assert.That(line, Does.Match(
                    @"^" + Host + @":(img_[A-Za-z0-9_.-]+:1|placement_images:\+([A-Za-z0-9_.-]+\+)*|placement_cache_bytes:\d+|placement_cache_free_bytes:\d+)$"),
                "every report line is host:complex:value");
            Assert.That(line.Length, Is.LessThan(1000));
            body.Add(line);
        }
        return body;
    }

    public async Task<int> WaitForExitAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    public Task<string> StandardErrorAsync => _stderr;

    public bool HasExited => _process.HasExited;

    public void Dispose()
    {
        if (!_process.HasExited)
            _process.Kill();
        _process.Dispose();
    }
}
