using System.Net.Http.Headers;
using System.Text;

namespace Placement.Core.Sources;

/// <summary>A user name and password for one registry or namespace of it, the file they came from and their <c>auths</c>
/// key there (which entry applied; for messages and for keying what is cached with them).</summary>
internal sealed record RegistryCredentials(string Username, string Password, string SourceFile, string Key)
{
    public AuthenticationHeaderValue ToBasicHeader() =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Username}:{Password}")));

    /// <summary>Never prints the password.</summary>
    public override string ToString() => $"user '{Username}' of \"{Key}\" from {SourceFile}";
}
