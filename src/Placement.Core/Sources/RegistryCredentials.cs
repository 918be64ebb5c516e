using System.Net.Http.Headers;
using System.Text;

namespace Placement.Core.Sources;

/// <summary>A user name and password for one registry, and the file they came from (for messages).</summary>
internal sealed record RegistryCredentials(string Username, string Password, string SourceFile)
{
    public AuthenticationHeaderValue ToBasicHeader() =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Username}:{Password}")));

    /// <summary>Never prints the password.</summary>
    public override string ToString() => $"user '{Username}' from {SourceFile}";
}
