using System.Net;
using System.Text;
using System.Text.Json;
using Placement.Core.Peers;
using Placement.Tests.Sources;

namespace Placement.Tests.Peers;

/// <summary>
/// A peer that plays a holder on loopback: answers the offer request with <see cref="Offer"/> (or <see cref="OfferStatus"/>)
/// and the body request with <see cref="Body"/>. Tests make it lie in one way at a time.
/// </summary>
internal sealed class FakeHolder : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;

    public FakeHolder()
    {
        Port = FreePort.Next();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }
    public Uri Url => new($"http://127.0.0.1:{Port}/");
    public ArtifactOffer? Offer { get; set; }
    public int OfferStatus { get; set; } = 200;
    public byte[] Body { get; set; } = [];
    /// <summary>Sent as the offer request's body instead of <see cref="Offer"/> or the agent's JSON error.</summary>
    public byte[]? OfferBody { get; set; }
    /// <summary>When set, the body request is answered 307 to this URL.</summary>
    public Uri? BodyRedirect { get; set; }
    public int OfferRequests;
    public int BodyRequests;
    public string? LastAuthorization;
    public string? LastReceiver;

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
            {
                return;
            }
            var response = context.Response;
            try
            {
                await AnswerAsync(context, response);
            }
            catch (HttpListenerException)
            {
                response.Abort(); // the client stopped reading (a body it refused)
            }
        }
    }

    private async Task AnswerAsync(HttpListenerContext context, HttpListenerResponse response)
    {
        var path = context.Request.Url!.AbsolutePath;
        if (path.EndsWith("/image.sqsh", StringComparison.Ordinal) || path.EndsWith("/image.sif", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref BodyRequests);
            if (BodyRedirect is not null)
            {
                response.StatusCode = 307;
                response.RedirectLocation = BodyRedirect.ToString();
            }
            else
            {
                response.ContentLength64 = Body.Length;
                await response.OutputStream.WriteAsync(Body);
            }
        }
        else
        {
            Interlocked.Increment(ref OfferRequests);
            LastAuthorization = context.Request.Headers["Authorization"];
            LastReceiver = context.Request.Headers[PeerHeaders.Receiver];
            response.StatusCode = OfferStatus;
            var json = OfferBody ?? (OfferStatus == 200 && Offer is not null
                ? JsonSerializer.SerializeToUtf8Bytes(Offer, PeerJsonContext.Default.ArtifactOffer)
                : Encoding.UTF8.GetBytes("{\"error\": \"no\"}"));
            response.ContentLength64 = json.Length;
            await response.OutputStream.WriteAsync(json);
        }
        response.Close();
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _loop;
    }
}
