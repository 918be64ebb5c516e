using System.Diagnostics;
using System.Net;
using NUnit.Framework;
using Placement.Core.Sources;

namespace Placement.Tests.Sources;

/// <summary>Small bodies (tokens, error descriptions) that start and then stop coming are bounded by RequestTimeout.</summary>
[TestFixture]
public sealed class StalledBodySpecs
{
    private static readonly SourceOptions Options = new() { MaxAttempts = 1, RequestTimeout = TimeSpan.FromSeconds(1) };

    /// <summary>A registry on loopback whose <see cref="Stalls"/> path sends its headers and a few bytes, then nothing.</summary>
    private sealed class StallingRegistry : LoopbackHttpServer
    {
        private readonly bool _tokenStalls;

        public StallingRegistry(bool tokenStalls)
        {
            _tokenStalls = tokenStalls;
            Start();
        }

        public string Host => $"127.0.0.1:{Port}";

        protected override async Task Serve(HttpListenerContext context)
        {
            var response = context.Response;
            var path = context.Request.Url!.AbsolutePath;
            if (_tokenStalls && path.StartsWith("/v2/", StringComparison.Ordinal))
            {
                response.StatusCode = 401;
                response.Headers["WWW-Authenticate"] = $"Bearer realm=\"http://{Host}/token\",service=\"reg\"";
                response.Close();
                return;
            }
            response.StatusCode = _tokenStalls ? 200 : 500;
            response.ContentType = "application/json";
            response.ContentLength64 = 100;
            await response.OutputStream.WriteAsync("{\"to"u8.ToArray());
            await response.OutputStream.FlushAsync();
            try
            {
                await Task.Delay(Timeout.Infinite, Stopping.Token);
            }
            catch (OperationCanceledException)
            {
            }
            response.Abort();
        }
    }

    [TestCase(true, TestName = "A token response that stops coming fails as a network error within RequestTimeout")]
    [TestCase(false, TestName = "An error response whose body stops coming still fails within RequestTimeout, with its status")]
    public async Task A_stalled_small_body_does_not_hang_the_pull(bool tokenStalls)
    {
        await using var registry = new StallingRegistry(tokenStalls);
        using var client = new RegistryClient(Options);
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var clock = Stopwatch.StartNew();

        var ex = Assert.ThrowsAsync<SourceException>(() => client.ResolveAsync(registry.Host, "test/img", "1", guard.Token));

        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "bounded by RequestTimeout, not by the caller's patience");
        if (tokenStalls)
            Assert.That(ex!.Message, Does.Contain("token server").And.Contain("RequestTimeout"));
        else
            Assert.That(ex!.Message, Does.StartWith("500"));
    }
}
