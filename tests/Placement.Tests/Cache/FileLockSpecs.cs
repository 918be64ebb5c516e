using System.Diagnostics;
using Placement.Core.Cache;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>flock semantics against a real second process (util-linux `flock`).</summary>
public sealed class FileLockSpecs
{
    private static Process HoldLockInAnotherProcess(string path, int seconds)
    {
        var holder = Process.Start(new ProcessStartInfo("flock", ["--exclusive", path, "sleep", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            RedirectStandardInput = true,
        })!;
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (!FileLock.IsHeld(path) && DateTime.UtcNow < deadline)
            Thread.Sleep(10);
        Assert.That(FileLock.IsHeld(path), Is.True, "the helper process should hold the lock");
        return holder;
    }

    [Test]
    public void The_holder_note_reads_back_as_pid_time_and_purpose_and_anything_else_as_none()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "k.lock");
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        using (FileLock.TryAcquire(path, "job: pull docker://reg/a (b):1"))
        {
            var holder = FileLock.ReadHolder(path);
            Assert.That(holder, Is.Not.Null);
            Assert.That((holder!.Value.Pid, holder.Value.Purpose), Is.EqualTo((Environment.ProcessId, "job: pull docker://reg/a (b):1")));
            Assert.That(holder.Value.Since, Is.InRange(before, DateTimeOffset.UtcNow.AddSeconds(1)));
        }
        Assert.That(FileLock.ReadHolder(path), Is.Null, "released: the note is cleared");
        var presigned = "cli: pull https://bucket.example/img.sqsh?X-Amz-Signature=" + new string('a', 1100) + "#sha256=" + new string('b', 64);
        using (FileLock.TryAcquire(path, presigned))
            Assert.That(FileLock.ReadHolder(path)?.Purpose, Is.EqualTo(presigned), "a note with a reference of over 1,024 characters reads back whole");
        foreach (var text in new[] { "pid x since 2026-01-01T00:00:00Z (a)", "pid 1 since yesterday (a)", "hello", "pid 1 since 2026-01-01T00:00:00Z a" })
        {
            File.WriteAllText(path, text);
            Assert.That(FileLock.ReadHolder(path), Is.Null, text);
        }
    }

    [Test]
    public async Task A_waiter_gets_the_lock_when_the_other_process_exits()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "k.lock");
        using var holder = HoldLockInAnotherProcess(path, 1);
        var waited = false;
        var clock = Stopwatch.StartNew();
        using (await FileLock.AcquireAsync(path, "test", TimeSpan.FromSeconds(10), CancellationToken.None, _ => waited = true))
        {
            Assert.That(waited, Is.True);
            Assert.That(clock.Elapsed, Is.GreaterThan(TimeSpan.FromMilliseconds(500)));
        }
        Assert.That(FileLock.IsHeld(path), Is.False);
    }

    [Test]
    public async Task A_killed_holder_leaves_no_stale_lock()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "k.lock");
        using var holder = HoldLockInAnotherProcess(path, 60);
        holder.Kill(entireProcessTree: true);
        await holder.WaitForExitAsync();
        using var acquired = await FileLock.AcquireAsync(path, "test", TimeSpan.FromSeconds(5), CancellationToken.None);
        Assert.That(acquired.Path, Is.EqualTo(path));
    }

    [Test]
    public void Giving_up_says_which_lock_and_who_holds_it()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "k.lock");
        File.WriteAllText(path, "pid 4242 since 2026-11-23T00:00:00Z (cli: pull docker://x)\n");
        using var holder = HoldLockInAnotherProcess(path, 30);
        var ex = Assert.ThrowsAsync<CacheBusyException>(() => FileLock.AcquireAsync(path, "pull y", TimeSpan.FromMilliseconds(300), CancellationToken.None))!;
        Assert.That(ex.Message, Does.Contain(path).And.Contain("pid 4242").And.Contain("Cache:LockTimeoutSeconds"));
        holder.Kill();
    }
}
