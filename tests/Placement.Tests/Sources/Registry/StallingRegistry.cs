using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace Placement.Tests.Sources.Registry;

/// <summary>
/// A loopback registry (HttpListener) serving one image, <c>t/img:1</c>: a manifest, a config, a first layer given by
/// the test, and a second layer whose download sends a few bytes and then stalls until the client goes away or the
/// registry is disposed. <see cref="StalledDownloadAbandoned"/> completes when the client dropped that download.
/// </summary>
internal sealed class StallingRegistry : LoopbackHttpServer
{
    private const string LayerType = "application/vnd.oci.image.layer.v1.tar+gzip";
    private readonly Dictionary<string, byte[]> _blobs = new(StringComparer.Ordinal);
    private readonly byte[] _manifest;
    private readonly string _stalledDigest;
    private readonly TaskCompletionSource _abandoned = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public StallingRegistry(byte[] firstLayer)
    {
        var stalled = RandomNumberGenerator.GetBytes(4 * 1024 * 1024); // never sent in full
        var config = Encoding.UTF8.GetBytes("""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}""");
        _stalledDigest = Digest(stalled);
        foreach (var blob in new[] { config, firstLayer, stalled })
            _blobs[Digest(blob)] = blob;
        _manifest = Encoding.UTF8.GetBytes($$"""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{Digest(config)}}","size":{{config.Length}}},
             "layers":[{"mediaType":"{{LayerType}}","digest":"{{Digest(firstLayer)}}","size":{{firstLayer.Length}}},
                       {"mediaType":"{{LayerType}}","digest":"{{_stalledDigest}}","size":{{stalled.Length}}}]}
            """);
        Start();
    }

    public string Host => $"127.0.0.1:{Port}";
    public string Reference => $"docker://{Host}/t/img:1";

    /// <summary>Completes when the client closed the stalled layer's download.</summary>
    public Task StalledDownloadAbandoned => _abandoned.Task;

    private static string Digest(byte[] content) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));

    protected override Task Serve(HttpListenerContext context) => Task.Run(() => ServeAsync(context));

    private async Task ServeAsync(HttpListenerContext context)
    {
        var path = context.Request.Url!.AbsolutePath;
        var response = context.Response;
        try
        {
            if (path == "/v2/t/img/manifests/1" || path == "/v2/t/img/manifests/" + Digest(_manifest))
            {
                response.ContentType = "application/vnd.oci.image.manifest.v1+json";
                response.Headers["Docker-Content-Digest"] = Digest(_manifest);
                await WriteAsync(response, _manifest, context.Request.HttpMethod == "HEAD").ConfigureAwait(false);
            }
            else if (path.StartsWith("/v2/t/img/blobs/", StringComparison.Ordinal) && _blobs.TryGetValue(path["/v2/t/img/blobs/".Length..], out var blob))
            {
                if (path.EndsWith(_stalledDigest, StringComparison.Ordinal))
                    await StallAsync(response, blob).ConfigureAwait(false);
                else
                    await WriteAsync(response, blob, head: false).ConfigureAwait(false);
            }
            else if (path == "/v2/")
                await WriteAsync(response, "{}"u8.ToArray(), head: false).ConfigureAwait(false);
            else
            {
                response.StatusCode = 404;
                await WriteAsync(response, """{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"""u8.ToArray(), head: false).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException)
        {
        }
    }

    private static async Task WriteAsync(HttpListenerResponse response, byte[] body, bool head)
    {
        response.ContentLength64 = body.Length;
        if (!head)
            await response.OutputStream.WriteAsync(body).ConfigureAwait(false);
        response.Close();
    }

    /// <summary>64 KiB, then a byte every 100 ms until a write fails (the client is gone) or the registry stops.</summary>
    private async Task StallAsync(HttpListenerResponse response, byte[] blob)
    {
        response.ContentLength64 = blob.Length;
        try
        {
            await response.OutputStream.WriteAsync(blob.AsMemory(0, 64 * 1024)).ConfigureAwait(false);
            for (var i = 64 * 1024; !Stopping.IsCancellationRequested; i++)
            {
                await Task.Delay(100).ConfigureAwait(false);
                await response.OutputStream.WriteAsync(blob.AsMemory(i, 1)).ConfigureAwait(false);
                await response.OutputStream.FlushAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException)
        {
            if (!Stopping.IsCancellationRequested)
                _abandoned.TrySetResult();
        }
    }
}
