using System.Text;
using Placement.Core.Sources;

namespace Placement.Tests.Sources;

/// <summary>A scratch directory of docker-style credentials files, each with one entry per key and the user named after
/// the key's position (<c>user0</c>, <c>user1</c>, …).</summary>
internal sealed class CredentialFiles : IDisposable
{
    public CredentialFiles(string prefix) => Dir = Directory.CreateTempSubdirectory(prefix).FullName;

    public string Dir { get; }

    /// <summary>A store over a new file with one entry per key, user <c>userN</c> and password <c>passwordN</c> for the Nth.</summary>
    public DockerCredentialStore Store(params string[] keys) =>
        new(Write([.. keys.Select((key, i) => (key, $"user{i}", $"password{i}"))]));

    /// <summary>A new credentials file with one <c>auth</c> entry per (key, user, password); its path.</summary>
    public string Write(params (string Key, string User, string Password)[] entries)
    {
        var path = Path.Combine(Dir, $"auth-{Guid.NewGuid():N}.json");
        var auths = entries.Select(e =>
            $"\"{e.Key}\":{{\"auth\":\"{Convert.ToBase64String(Encoding.UTF8.GetBytes($"{e.User}:{e.Password}"))}\"}}");
        File.WriteAllText(path, "{\"auths\":{" + string.Join(",", auths) + "}}");
        return path;
    }

    public void Dispose() => Directory.Delete(Dir, recursive: true);
}

/// <summary>A fixture with fresh <see cref="CredentialFiles"/> for every test (<see cref="Files"/>, <see cref="Store"/>).</summary>
public abstract class CredentialFileFixture
{
    private CredentialFiles? _files;

    private protected CredentialFiles Files => _files ?? throw new InvalidOperationException("no test is running");

    [SetUp]
    public void CreateCredentialFiles() => _files = new CredentialFiles("placement-credentials-");

    [TearDown]
    public void RemoveCredentialFiles() => _files?.Dispose();

    private protected DockerCredentialStore Store(params string[] keys) => Files.Store(keys);
}
