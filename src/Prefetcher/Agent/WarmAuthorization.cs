namespace Placement.Prefetcher.Agent;

/// <summary>The authorizer's verdict: allowed (with the caller's uid) or denied with a metric result and a message.</summary>
internal sealed record WarmAuthorization(bool Allowed, int Uid, string Result, string Message)
{
    public const string Unauthenticated = "unauthenticated";
    public const string Replayed = "replayed";
    public const string Forbidden = "forbidden";
    public const string Busy = "busy";

    public static WarmAuthorization Allow(int uid) => new(true, uid, "", "");

    public static WarmAuthorization Deny(string result, string message) => new(false, -1, result, message);

    /// <summary>401 for a missing, invalid or replayed credential; 403 for a valid one from a user who may not warm;
    /// 503 (with Retry-After) when the agent verifies as many credentials as it will at once.</summary>
    public int StatusCode => Result switch
    {
        Forbidden => 403,
        Busy => 503,
        _ => 401,
    };
}
