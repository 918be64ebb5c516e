using System.Net;

namespace Placement.Core.Warm;

/// <summary>A raw answer of the node agent: status code and body text.</summary>
public sealed record WarmResponse(HttpStatusCode Status, string Body);
