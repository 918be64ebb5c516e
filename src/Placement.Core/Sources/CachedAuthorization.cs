using System.Net.Http.Headers;

namespace Placement.Core.Sources;

/// <summary>An Authorization header value and when it stops being usable.</summary>
internal sealed record CachedAuthorization(AuthenticationHeaderValue Header, DateTimeOffset Expires);
