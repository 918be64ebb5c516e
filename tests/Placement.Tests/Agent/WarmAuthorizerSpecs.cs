using Placement.Core.Warm;
using Placement.Prefetcher.Agent;
using Placement.Tests.Support;

namespace Placement.Tests.Agent;

/// <summary>Who may warm: root and Agent:SlurmUser, also when the user resolves only after the agent started.</summary>
public sealed class WarmAuthorizerSpecs
{
    [Test]
    public async Task A_slurm_user_that_did_not_resolve_at_start_is_looked_up_again_when_its_request_arrives_at_most_once_per_interval()
    {
        // At boot SSSD or LDAP may not answer yet: the agent must not refuse the controller until it is restarted.
        using var dir = new TempDir();
        var munge = new FakeMunge(dir.Path, uid: 4242);
        var lookups = 0;
        int? answer = null;
        using var log = new StringWriter();
        var late = new WarmAuthorizer.LateUser("slurm", _ => { lookups++; return Task.FromResult(answer); }, new AgentLog(log), "n1", TimeSpan.FromMilliseconds(500));
        var authorizer = new WarmAuthorizer(munge.Unmunge, "n1", new HashSet<int> { 0 }, "root (0) or slurm (not resolved)",
            new WarmAuthorizer.DecodeGate(4, TimeSpan.FromSeconds(5)), late);
        var body = "{\"ref\":\"docker://x:1\"}"u8.ToArray();
        Task<WarmAuthorization> Check() => authorizer.CheckAsync("POST", "/v1/warm", body,
            "Munge " + FakeMunge.Credential(WarmAuthentication.Payload("POST", "/v1/warm", "n1", body)), CancellationToken.None);

        var first = await Check();
        Assert.That(first.Allowed, Is.False);
        Assert.That(first.Message, Does.Contain("uid 4242 may not warm images on this node; allowed: root (0) or slurm (not resolved)"));
        Assert.That((await Check()).Allowed, Is.False);
        Assert.That(lookups, Is.EqualTo(1), "not again within the interval: a flood of requests costs no flood of getent");

        answer = 4242; // the directory service is up
        await Task.Delay(600);
        var later = await Check();
        Assert.That(later.Allowed, Is.True, later.Message);
        Assert.That(later.Uid, Is.EqualTo(4242));
        Assert.That(log.ToString(), Does.Contain("Agent:SlurmUser 'slurm' now resolves to uid 4242"));
        Assert.That((await Check()).Allowed, Is.True);
        Assert.That(lookups, Is.EqualTo(2), "once resolved it is kept");
    }

    [Test]
    public async Task Another_uid_is_still_refused_when_the_late_user_resolves_to_someone_else()
    {
        using var dir = new TempDir();
        var munge = new FakeMunge(dir.Path, uid: 5000);
        using var log = new StringWriter();
        var authorizer = new WarmAuthorizer(munge.Unmunge, "n1", new HashSet<int> { 0 }, "root (0) or slurm (not resolved)",
            new WarmAuthorizer.DecodeGate(4, TimeSpan.FromSeconds(5)), new WarmAuthorizer.LateUser("slurm", _ => Task.FromResult<int?>(4242), new AgentLog(log), "n1"));
        var body = "{}"u8.ToArray();
        var result = await authorizer.CheckAsync("POST", "/v1/warm", body,
            "Munge " + FakeMunge.Credential(WarmAuthentication.Payload("POST", "/v1/warm", "n1", body)), CancellationToken.None);
        Assert.That(result.Allowed, Is.False);
        Assert.That(result.Message, Does.Contain("uid 5000 may not warm"));
    }
}
