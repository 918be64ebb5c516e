using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Placement.Core.Sources;
using Placement.Tests.Sources;

namespace Placement.Tests.Cache;

/// <summary>A registry on loopback serving one image, tagged "1", whose blobs are those given; any other blob is 404.</summary>
internal sealed class OneImageRegistry : LoopbackHttpServer
{
    private readonly byte[] _manifest;
    private readonly Dictionary<string, byte[]> _blobs;

    public OneImageRegistry(byte[] config, byte[][] layers, Func<byte[], bool> served)
    {
        _blobs = new[] { config }.Concat(layers).Where(served).ToDictionary(Digest);
        var layerJson = string.Join(',', layers.Select(l => $$"""{"mediaType":"{{MediaTypes.OciLayerGzip}}","digest":"{{Digest(l)}}","size":{{l.Length}}}"""));
        _manifest = Encoding.UTF8.GetBytes($$"""
            {"schemaVersion":2,"mediaType":"{{MediaTypes.OciManifest}}",
             "config":{"mediaType":"{{MediaTypes.OciConfig}}","digest":"{{Digest(config)}}","size":{{config.Length}}},"layers":[{{layerJson}}]}
            """);
        Start();
    }

    public string Host => $"127.0.0.1:{Port}";

    /// <summary>The digest of the image's manifest, the image's digest.</summary>
    public string ManifestDigest => Digest(_manifest);

    public static string Digest(byte[] content) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));

    /// <summary>The path of every request received, in arrival order (its access log).</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>Blob requests for this digest wait for <see cref="Release"/> before they are answered.</summary>
    public string? HeldDigest { get; set; }

    /// <summary>Completed when a request for <see cref="HeldDigest"/> has arrived.</summary>
    public TaskCompletionSource HeldRequested { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>While set, manifest requests are never answered (a registry that hangs) until the server stops.</summary>
    public bool HangManifests { get; set; }

    protected override async Task Serve(HttpListenerContext context)
    {
        var response = context.Response;
        var path = context.Request.Url!.AbsolutePath;
        Requests.Enqueue(path);
        byte[]? body = null;
        if (path.Contains("/manifests/", StringComparison.Ordinal))
        {
            if (HangManifests)
            {
                try
                {
                    await Task.Delay(Timeout.Infinite, Stopping.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            body = _manifest;
            response.ContentType = MediaTypes.OciManifest;
            response.Headers["Docker-Content-Digest"] = Digest(_manifest);
        }
        else if (path.Contains("/blobs/", StringComparison.Ordinal))
        {
            var digest = path[(path.LastIndexOf('/') + 1)..];
            if (digest == HeldDigest)
            {
                HeldRequested.TrySetResult();
                await Release.Task.WaitAsync(Stopping.Token);
            }
            _blobs.TryGetValue(digest, out body);
        }
        if (body is null)
            response.StatusCode = 404;
        else
        {
            response.ContentLength64 = body.Length;
            await response.OutputStream.WriteAsync(body);
        }
        response.Close();
    }
}
