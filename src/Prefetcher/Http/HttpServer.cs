using System.Net;
using Placement.Core;
using Placement.Core.Configuration;

namespace Placement.Prefetcher.Http;

/// <summary>
/// One <see cref="HttpListener"/> (managed, NativeAOT-safe) for the agent's API and the controller's /metrics: binds at
/// construction, so a port in use stops the daemon at start with a clear message, and serves every request on its own task.
/// <para>The managed listener hands a request to a prefix only when the request's Host header names that prefix's host.
/// With a specific listen address (<c>http://10.0.0.5:9464/</c>), a request for <c>http://n1:9464/</c>, which is how the
/// controller and peers address agents (<c>Prefetch:AgentUrl</c>), would be answered 404 by the listener itself. So each
/// of this host's names (the node name, the agent URL's host, the host name) gets a prefix of its own as well, when it
/// resolves to the listen address: the listener binds a named prefix to the name's first address, so that address
/// stays the only one listened on.</para>
/// </summary>
internal sealed class HttpServer : IDisposable
{
    /// <summary>Resolving a host name at start may take this long; a name that takes longer is not served.</summary>
    private static readonly TimeSpan ResolveTimeout = TimeSpan.FromSeconds(2);

    private readonly HttpListener _listener = new();
    private readonly DaemonLog _log;

    /// <param name="howToChange">How the admin picks another address, for the error when this one cannot be bound.</param>
    /// <param name="log">The daemon's log, for requests the listener could not hand over.</param>
    /// <param name="hostNames">Names clients use for this host besides its host name (the node name, the agent URL's
    /// host); those that cannot be served on a specific address are listed in <see cref="Unserved"/>.</param>
    public HttpServer(ListenAddress address, string howToChange, DaemonLog log, IEnumerable<string>? hostNames = null)
    {
        Address = address;
        _log = log;
        var named = (hostNames ?? []).ToList();
        (Prefixes, Unserved) = PrefixesFor(address, [.. named, .. HostNames()], FirstAddress);
        Unserved = [.. Unserved.Where(u => named.Contains(u.Name, StringComparer.OrdinalIgnoreCase))];
        foreach (var prefix in Prefixes)
            _listener.Prefixes.Add(prefix);
        try
        {
            _listener.Start();
        }
        catch (HttpListenerException ex)
        {
            throw new PlacementException(PlacementErrorKind.Failure, $"cannot listen on {address.Address}:{address.Port} ({ex.Message}); {howToChange}", ex);
        }
    }

    public ListenAddress Address { get; }

    /// <summary>The listener's prefixes: <see cref="ListenAddress.Prefix"/> first, then one per host name served.</summary>
    public IReadOnlyList<string> Prefixes { get; }

    /// <summary>Names given to the constructor that a specific listen address cannot serve, with what they resolve to
    /// (null: nothing): requests naming them are answered 404 by the listener.</summary>
    public IReadOnlyList<(string Name, IPAddress? ResolvesTo)> Unserved { get; }

    /// <summary>
    /// The prefixes for <paramref name="address"/>: for every interface, the wildcard only (it serves any Host); for a
    /// specific address, that address, plus <c>http://NAME:PORT/</c> for each of <paramref name="hostNames"/> whose first
    /// address (what HttpListener binds a named prefix to) is the listen address. IP literals are left out: one equal
    /// to the address is served by the address's own prefix.
    /// </summary>
    internal static (IReadOnlyList<string> Prefixes, IReadOnlyList<(string Name, IPAddress? ResolvesTo)> Unserved) PrefixesFor(
        ListenAddress address, IEnumerable<string> hostNames, Func<string, IPAddress?> firstAddress)
    {
        List<string> prefixes = [address.Prefix];
        List<(string, IPAddress?)> unserved = [];
        if (address.AnyInterface)
            return (prefixes, unserved);
        foreach (var name in hostNames.Select(n => n.Trim().ToLowerInvariant()).Distinct(StringComparer.Ordinal))
        {
            if (Uri.CheckHostName(name) != UriHostNameType.Dns)
                continue;
            var resolved = firstAddress(name);
            if (address.Address.Equals(resolved))
                prefixes.Add($"http://{name}:{address.Port}/");
            else
                unserved.Add((name, resolved));
        }
        return (prefixes, unserved);
    }

    /// <summary>This host's name and its first label (<c>n1.cluster.example</c>, <c>n1</c>).</summary>
    private static IEnumerable<string> HostNames()
    {
        string host;
        try
        {
            host = Dns.GetHostName();
        }
        catch (System.Net.Sockets.SocketException)
        {
            yield break;
        }
        yield return host;
        if (host.IndexOf('.', StringComparison.Ordinal) is > 0 and var dot)
            yield return host[..dot];
    }

    /// <summary>What <c>Dns.GetHostAddresses(name)[0]</c> is (HttpListener's choice), or null.</summary>
    private static IPAddress? FirstAddress(string name)
    {
        try
        {
            var lookup = Dns.GetHostAddressesAsync(name);
            return lookup.Wait(ResolveTimeout) && lookup.Result.Length > 0 ? lookup.Result[0] : null;
        }
        catch (Exception ex) when (ex is AggregateException or System.Net.Sockets.SocketException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>Hands every request to <paramref name="handle"/> until <paramref name="cancellationToken"/> is cancelled.</summary>
    public async Task RunAsync(Func<HttpListenerContext, CancellationToken, Task> handle, CancellationToken cancellationToken)
    {
        await using var registration = cancellationToken.Register(Stop).ConfigureAwait(false);
        string? failing = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                // WaitAsync: the loop ends on cancellation even when stopping the listener failed (below).
                context = await _listener.GetContextAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // Not stopping: ending the loop would leave the port bound and every later request unanswered, with
                // nothing in the log. Log it (once while it repeats) and keep accepting.
                if (failing != ex.Message)
                    _log.Write("http", $"{Address.Prefix}: accepting a request failed ({ex.GetType().Name}: {ex.Message}); still serving");
                failing = ex.Message;
                try
                {
                    await Task.Delay(100, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                continue;
            }
            failing = null;
            _ = Task.Run(() => handle(context, cancellationToken), CancellationToken.None);
        }
    }

    /// <summary>Answers with every registered metric in Prometheus's text format (the response is buffered to give its length).</summary>
    public static async Task WriteMetricsAsync(HttpListenerResponse response, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await Prometheus.Metrics.DefaultRegistry.CollectAndExportAsTextAsync(buffer, cancellationToken).ConfigureAwait(false);
        response.StatusCode = 200;
        response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        response.ContentLength64 = buffer.Length;
        buffer.Position = 0;
        await buffer.CopyToAsync(response.OutputStream, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops accepting. HttpListener resolves named prefixes again to remove them, which can fail (a name that
    /// no longer resolves): the daemon is stopping anyway, so that is logged, not thrown into the cancellation.</summary>
    private void Stop()
    {
        try
        {
            _listener.Stop();
        }
        catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
        {
            _log.Write("http", $"{Address.Prefix}: stopping the listener: {ex.Message}");
        }
    }

    public void Dispose()
    {
        try
        {
            ((IDisposable)_listener).Dispose();
        }
        catch (HttpListenerException)
        {
            // As in Stop: a named prefix that cannot be resolved again; the process is ending.
        }
    }
}
