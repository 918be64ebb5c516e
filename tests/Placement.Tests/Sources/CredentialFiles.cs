using System.Text;
using Placement.Core.Sources;

namespace Placement.Tests.Sources;

/// <summary>A scratch directory of docker-style credentials files, each with one entry per key and the user named after
/// the key's position (<c>user0</c>, <c>user1</c>, …).</summary>
internal sealed class CredentialFiles : IDisposable
{
    public CredentialFiles(string prefix) => Dir = Directory.CreateTempSubdirectory(prefix).FullName;

    public string Dir { get; }

    public DockerCredentialStore Store(params string[] keys)
    {
        var path = Path.Combine(Dir, $"auth-{Guid.NewGuid():N}.json");
        var entries = keys.Select((key, i) =>
            $"\"{key}\":{{\"auth\":\"{Convert.ToBase64String(Encoding.UTF8.GetBytes($"user{i}:password{i}"))}\"}}");
        File.WriteAllText(path, "{\"auths\":{" + string.Join(",", entries) + "}}");
        return new DockerCredentialStore(path);
    }

    public void Dispose() => Directory.Delete(Dir, recursive: true);
}
