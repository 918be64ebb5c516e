using System.Diagnostics;
using System.Net.Http;

namespace Placement.Tests.Sources.Registry;

/// <summary>A docker-registry (distribution 2.8.2) this test run started on a free loopback port; killed on dispose.</summary>
internal sealed class RegistryProcess : IDisposable
{
    private readonly Process _process;

    private RegistryProcess(Process process, int port, string log)
    {
        _process = process;
        Port = port;
        Log = log;
    }

    public int Port { get; }
    public string Log { get; }
    public string Host => $"127.0.0.1:{Port}";

    /// <summary>Starts <c>docker-registry serve</c> with storage in <paramref name="storage"/> and the given <c>auth:</c> YAML block.</summary>
    public static async Task<RegistryProcess> StartAsync(string workDir, string name, string storage, string authYaml)
    {
        var port = FreePort.Next();
        var config = Path.Combine(workDir, $"{name}.yml");
        var log = Path.Combine(workDir, $"{name}.log");
        File.WriteAllText(config, $"""
            version: 0.1
            log:
              level: warn
            storage:
              filesystem:
                rootdirectory: {storage}
            http:
              addr: 127.0.0.1:{port}
              secret: placement-test-secret
            {authYaml}
            """);
        var start = new ProcessStartInfo("/bin/sh", ["-c", $"exec /usr/bin/docker-registry serve '{config}' >'{log}' 2>&1"])
        {
            UseShellExecute = false,
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException("docker-registry did not start");
        var registry = new RegistryProcess(process, port, log);

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
                break;
            try
            {
                using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/v2/")).ConfigureAwait(false);
                return registry; // 200 or 401: it is up
            }
            catch (HttpRequestException)
            {
                await Task.Delay(100).ConfigureAwait(false);
            }
        }
        registry.Dispose();
        throw new InvalidOperationException($"docker-registry {name} did not come up on port {port}: {File.ReadAllText(log)}");
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        _process.Dispose();
    }
}
