using NUnit.Framework;
using System.Diagnostics;
using System.Security.Cryptography;
using Placement.Core.Sources;

namespace Placement.Tests.Sources;

/// <summary>The download engine, driven through <see cref="HttpFileSource"/> against a real loopback server.</summary>
[TestFixture]
public sealed class HttpFileSourceTests
{
    private static readonly SourceOptions Fast = new()
    {
        MaxAttempts = 3,
        RetryBaseDelay = TimeSpan.FromMilliseconds(20),
        RequestTimeout = TimeSpan.FromSeconds(5),
        StallWindow = TimeSpan.FromSeconds(1),
        MinBytesPerWindow = 1,
    };

    private string _dir = null!;
    private byte[] _content = null!;
    private string _sha = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Directory.CreateTempSubdirectory("placement-http-").FullName;
        _content = new byte[1024 * 1024 + 123];
        new Random(42).NextBytes(_content);
        _sha = Convert.ToHexStringLower(SHA256.HashData(_content));
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string Partial => Path.Combine(_dir, "image.sqsh.partial");

    [Test]
    public async Task A_Content_Length_over_the_bound_is_refused_before_the_body_is_read_and_not_retried()
    {
        await using var server = new TestFileServer(_content);
        using var source = new HttpFileSource(Fast);
        var written = new List<long>();

        var ex = Assert.ThrowsAsync<SourceException>(() => source.DownloadAsync(server.Url(), _sha, null, 1 << 20, Partial, new SyncProgress(written.Add)))!;

        Assert.That(ex!.Kind, Is.EqualTo(SourceErrorKind.TooLarge), ex.Message);
        Assert.That(ex.Message, Does.Contain($"the server announces {_content.Length} bytes (1.0 MiB), more than 1.0 MiB (1048576 bytes), the bound on one image"));
        Assert.That(server.Requests, Has.Count.EqualTo(1), "permanent: not retried");
        Assert.That(written, Is.Empty, "no byte of the body was written");
        Assert.That(File.Exists(Partial), Is.False);
    }

    [Test]
    public async Task I_can_download_a_file_without_a_pin_and_get_its_size_and_sha256()
    {
        await using var server = new TestFileServer(_content);
        using var source = new HttpFileSource(Fast);
        long lastProgress = 0;
        var progress = new SyncProgress(v => lastProgress = v);

        var result = await source.DownloadAsync(server.Url(), null, Partial, progress);

        Assert.Multiple(() =>
        {
            Assert.That(result.Sha256, Is.EqualTo(_sha));
            Assert.That(result.Digest, Is.EqualTo("sha256:" + _sha));
            Assert.That(result.Size, Is.EqualTo(_content.Length));
            Assert.That(result.Attempts, Is.EqualTo(1));
            Assert.That(File.ReadAllBytes(Partial), Is.EqualTo(_content));
            Assert.That(lastProgress, Is.EqualTo(_content.Length));
        });
    }

    [Test]
    public async Task I_can_download_a_file_pinned_to_its_sha256_in_either_spelling()
    {
        await using var server = new TestFileServer(_content);
        using var source = new HttpFileSource(Fast);

        var bare = await source.DownloadAsync(server.Url(), _sha.ToUpperInvariant(), Partial);
        File.Delete(Partial);
        var prefixed = await source.DownloadAsync(server.Url(), "sha256:" + _sha, Partial);

        Assert.That(bare.Sha256, Is.EqualTo(_sha));
        Assert.That(prefixed.Sha256, Is.EqualTo(_sha));
    }

    [Test]
    public async Task A_wrong_pin_is_an_integrity_error_and_the_partial_file_is_deleted()
    {
        await using var server = new TestFileServer(_content);
        using var source = new HttpFileSource(Fast);
        var wrong = new string('0', 64);

        var ex = Assert.ThrowsAsync<SourceException>(() => source.DownloadAsync(server.Url(), wrong, Partial));

        Assert.That(ex!.Kind, Is.EqualTo(SourceErrorKind.Integrity));
        Assert.That(ex.Message, Does.Contain(server.Url().ToString()).And.Contain("sha256:" + wrong).And.Contain("sha256:" + _sha));
        Assert.That(File.Exists(Partial), Is.False);
    }

    [Test]
    public async Task A_server_sending_wrong_bytes_gives_an_integrity_error_and_no_partial_file()
    {
        await using var server = new TestFileServer(_content) { Plan = _ => ServeMode.WrongBytes };
        using var source = new HttpFileSource(Fast);

        var ex = Assert.ThrowsAsync<SourceException>(() => source.DownloadAsync(server.Url(), _sha, Partial));

        Assert.That(ex!.Kind, Is.EqualTo(SourceErrorKind.Integrity));
        Assert.That(File.Exists(Partial), Is.False);
        Assert.That(server.Requests, Has.Count.EqualTo(1), "integrity failures are not retried");
    }

    [Test]
    public async Task A_cut_connection_is_resumed_with_a_range_request_for_the_rest_only()
    {
        await using var server = new TestFileServer(_content) { CutAfter = 300_000, Plan = i => i == 0 ? ServeMode.Cut : ServeMode.Normal };
        using var source = new HttpFileSource(Fast);

        var result = await source.DownloadAsync(server.Url(), _sha, Partial);

        var requests = server.Requests.ToArray();
        Assert.That(requests, Has.Length.EqualTo(2));
        Assert.Multiple(() =>
        {
            Assert.That(requests[0].Range, Is.Null);
            Assert.That(requests[1].RangeStart, Is.GreaterThan(0).And.LessThanOrEqualTo(300_000));
            Assert.That(requests[1].BytesSent, Is.LessThan(_content.Length));
            Assert.That(result.Attempts, Is.EqualTo(2));
            Assert.That(result.Sha256, Is.EqualTo(_sha));
            Assert.That(File.ReadAllBytes(Partial), Is.EqualTo(_content));
        });
    }

    [Test]
    public async Task An_existing_partial_file_is_rehashed_and_only_the_rest_is_fetched()
    {
        await using var server = new TestFileServer(_content);
        using var source = new HttpFileSource(Fast);
        File.WriteAllBytes(Partial, _content[..500_000]);

        var result = await source.DownloadAsync(server.Url(), _sha, Partial);

        Assert.That(server.Requests.Single().Range, Is.EqualTo("bytes=500000-"));
        Assert.That(result.BytesTransferred, Is.EqualTo(_content.Length - 500_000));
        Assert.That(result.Sha256, Is.EqualTo(_sha));
    }

    [Test]
    public async Task A_server_that_ignores_range_and_answers_200_makes_the_download_restart_cleanly()
    {
        await using var server = new TestFileServer(_content) { Plan = _ => ServeMode.IgnoreRange };
        using var source = new HttpFileSource(Fast);
        File.WriteAllBytes(Partial, _content[..500_000]);

        var result = await source.DownloadAsync(server.Url(), _sha, Partial);

        Assert.That(server.Requests.Single().Range, Is.EqualTo("bytes=500000-"));
        Assert.That(result.BytesTransferred, Is.EqualTo(_content.Length));
        Assert.That(File.ReadAllBytes(Partial), Is.EqualTo(_content));
    }

    [Test]
    public async Task A_corrupt_partial_file_is_discarded_and_downloaded_again_once()
    {
        await using var server = new TestFileServer(_content);
        using var source = new HttpFileSource(Fast);
        var corrupt = _content[..500_000];
        corrupt[10] ^= 0xFF;
        File.WriteAllBytes(Partial, corrupt);

        var result = await source.DownloadAsync(server.Url(), _sha, Partial);

        Assert.That(server.Requests.Select(r => r.Range), Is.EqualTo(new[] { "bytes=500000-", null }));
        Assert.That(File.ReadAllBytes(Partial), Is.EqualTo(_content));
        Assert.That(result.Sha256, Is.EqualTo(_sha));
    }

    [Test]
    public async Task A_complete_partial_file_matching_the_pin_needs_no_network()
    {
        await using var server = new TestFileServer(_content);
        using var source = new HttpFileSource(Fast);
        File.WriteAllBytes(Partial, _content);

        // Without an expected size the engine must ask; the server answers 416 or the rest (nothing).
        var result = await source.DownloadAsync(server.Url(), _sha, Partial);

        Assert.That(result.Sha256, Is.EqualTo(_sha));
        Assert.That(File.ReadAllBytes(Partial), Is.EqualTo(_content));
    }

    [Test]
    public async Task A_stalled_transfer_is_aborted_by_the_watchdog_and_resumed()
    {
        await using var server = new TestFileServer(_content) { CutAfter = 200_000, Plan = i => i == 0 ? ServeMode.Stall : ServeMode.Normal };
        using var source = new HttpFileSource(Fast);
        var clock = Stopwatch.StartNew();

        var result = await source.DownloadAsync(server.Url(), _sha, Partial);

        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
        Assert.That(server.Requests.ToArray()[1].RangeStart, Is.EqualTo(200_000));
        Assert.That(result.Sha256, Is.EqualTo(_sha));
    }

    [Test]
    public async Task A_server_that_always_stalls_fails_as_a_network_error_and_keeps_the_partial_file()
    {
        await using var server = new TestFileServer(_content) { CutAfter = 1000, Plan = _ => ServeMode.Stall };
        using var source = new HttpFileSource(Fast with { MaxAttempts = 2 });
        var clock = Stopwatch.StartNew();

        var ex = Assert.ThrowsAsync<SourceException>(() => source.DownloadAsync(server.Url(), _sha, Partial));

        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(6)));
        Assert.That(ex!.Kind, Is.EqualTo(SourceErrorKind.Network));
        Assert.That(ex.Message, Does.Contain("stalled").And.Contain("gave up after 2 attempts"));
        Assert.That(new FileInfo(Partial).Length, Is.EqualTo(2000), "kept for a later resume");
    }

    [Test]
    public async Task A_missing_file_is_not_found_naming_the_url()
    {
        await using var server = new TestFileServer(_content) { Plan = _ => ServeMode.NotFound };
        using var source = new HttpFileSource(Fast);

        var ex = Assert.ThrowsAsync<SourceException>(() => source.DownloadAsync(server.Url("/nope.sif"), null, Partial));

        Assert.That(ex!.Kind, Is.EqualTo(SourceErrorKind.NotFound));
        Assert.That(ex.StatusCode, Is.EqualTo(404));
        Assert.That(ex.Message, Does.Contain("404").And.Contain("/nope.sif"));
        Assert.That(server.Requests, Has.Count.EqualTo(1), "404 is not retried");
        Assert.That(File.Exists(Partial), Is.False, "no byte arrived: no empty partial file is left behind");
    }

    [Test]
    public async Task An_unreachable_server_is_a_network_error_after_the_configured_attempts()
    {
        using var source = new HttpFileSource(Fast);
        var url = new Uri($"http://127.0.0.1:{FreePort.Next()}/x.sif");

        var ex = Assert.ThrowsAsync<SourceException>(() => source.DownloadAsync(url, null, Partial));

        Assert.That(ex!.Kind, Is.EqualTo(SourceErrorKind.Network));
        Assert.That(ex.Message, Does.Contain("127.0.0.1").And.Contain("gave up after 3 attempts"));
        Assert.That(File.Exists(Partial), Is.False, "no byte arrived: no empty partial file is left behind");
    }

    [Test]
    public async Task A_redirect_is_followed()
    {
        await using var target = new TestFileServer(_content);
        await using var front = new TestFileServer([]) { Plan = _ => ServeMode.Redirect, RedirectTo = target.Url("/blob") };
        using var source = new HttpFileSource(Fast);

        var result = await source.DownloadAsync(front.Url(), _sha, Partial);

        Assert.That(result.Sha256, Is.EqualTo(_sha));
        Assert.That(target.Requests.Single().Path, Is.EqualTo("/blob"));
    }

    private static string Sha(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));

    /// <summary>A first download of an unpinned file cut after 300 000 bytes (one attempt), then the file changes on the server.</summary>
    private async Task<byte[]> CutThenChangeAsync(TestFileServer server)
    {
        using (var once = new HttpFileSource(Fast with { MaxAttempts = 1 }))
            Assert.ThrowsAsync<SourceException>(() => once.DownloadAsync(server.Url(), null, Partial));
        Assert.That(new FileInfo(Partial).Length, Is.GreaterThan(0), "the cut download kept its partial file");
        var changed = new byte[_content.Length];
        new Random(7).NextBytes(changed);
        server.Content = changed;
        return changed;
    }

    [Test]
    public async Task An_unpinned_file_that_changed_is_downloaded_whole_not_spliced_onto_the_old_head()
    {
        await using var server = new TestFileServer(_content) { ETag = "\"v1\"", CutAfter = 300_000, Plan = i => i == 0 ? ServeMode.Cut : ServeMode.Normal };
        var changed = await CutThenChangeAsync(server);
        server.ETag = "\"v2\"";
        using var source = new HttpFileSource(Fast);

        var result = await source.DownloadAsync(server.Url(), null, Partial);

        var resumed = server.Requests.Last();
        Assert.That(resumed.RangeStart, Is.GreaterThan(0), "the partial file was worth resuming");
        Assert.That(resumed.IfRange, Is.EqualTo("\"v1\""), "the resume names the version it continues");
        Assert.That(result.Sha256, Is.EqualTo(Sha(changed)));
        Assert.That(File.ReadAllBytes(Partial), Is.EqualTo(changed));
    }

    [Test]
    public async Task An_unpinned_file_whose_server_names_no_validator_is_not_resumed()
    {
        await using var server = new TestFileServer(_content) { CutAfter = 300_000, Plan = i => i == 0 ? ServeMode.Cut : ServeMode.Normal };
        var changed = await CutThenChangeAsync(server);
        using var source = new HttpFileSource(Fast);

        var result = await source.DownloadAsync(server.Url(), null, Partial);

        Assert.That(server.Requests.Last().Range, Is.Null, "nothing could tell the server's file from the one the partial file began");
        Assert.That(result.Sha256, Is.EqualTo(Sha(changed)));
    }

    [Test]
    public async Task A_pinned_file_still_resumes_across_downloads_without_a_validator()
    {
        await using var server = new TestFileServer(_content) { CutAfter = 300_000, Plan = i => i == 0 ? ServeMode.Cut : ServeMode.Normal };
        using (var once = new HttpFileSource(Fast with { MaxAttempts = 1 }))
            Assert.ThrowsAsync<SourceException>(() => once.DownloadAsync(server.Url(), _sha, Partial));
        using var source = new HttpFileSource(Fast);

        var result = await source.DownloadAsync(server.Url(), _sha, Partial);

        Assert.That(server.Requests.Last().RangeStart, Is.GreaterThan(0), "the digest checks the result, so the partial file is resumed");
        Assert.That(server.Requests.Last().IfRange, Is.Null);
        Assert.That(result.Sha256, Is.EqualTo(_sha));
    }

    [Test]
    public async Task An_unpinned_body_ended_only_by_closing_the_connection_is_refused()
    {
        // No Content-Length, no chunked framing: a clean FIN after 1000 bytes looks exactly like the end of the file.
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        var serving = Task.Run(async () =>
        {
            while (true)
            {
                using var client = await listener.AcceptTcpClientAsync();
                var stream = client.GetStream();
                var request = new List<byte>();
                var one = new byte[1];
                while (!(request.Count >= 4 && request[^4] == '\r' && request[^3] == '\n' && request[^2] == '\r' && request[^1] == '\n')
                       && await stream.ReadAsync(one) == 1)
                    request.Add(one[0]);
                await stream.WriteAsync("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"u8.ToArray());
                await stream.WriteAsync(_content.AsMemory(0, 1000));
                client.Client.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            }
        });
        using var source = new HttpFileSource(Fast);

        var ex = Assert.ThrowsAsync<SourceException>(() => source.DownloadAsync(new Uri($"http://127.0.0.1:{port}/x.sqsh"), null, Partial));

        Assert.That(ex!.Kind, Is.EqualTo(SourceErrorKind.Unsupported));
        Assert.That(ex.Message, Does.Contain("neither a Content-Length nor chunked framing").And.Contain("#sha256="));
        listener.Stop();
    }
}
