using Placement.Core.Processes;
using Placement.Tests.Support;

namespace Placement.Tests.GridEngine;

/// <summary>
/// deploy/sge/placement-jsv.sh against a stand-in of Grid Engine's jsv_include.sh that prints what the JSV would send
/// to qmaster, one call per line, and a stand-in placement CLI.
/// </summary>
public sealed class JsvSpecs
{
    private const string Include = """
        jsv_send_env() { :; }
        jsv_sub_is_param() { [ "$1 $2" = "l_hard container_image" ] && echo true || echo false; }
        jsv_sub_get_param() { echo "$JSV_TEST_IMAGE"; }
        jsv_sub_del_param() { echo "DEL $*"; }
        jsv_is_env() { echo false; }
        jsv_get_env() { :; }
        jsv_sub_add_param() { echo "ADD $*"; }
        jsv_add_env() { echo "ENV $*"; }
        jsv_accept() { echo "ACCEPT $*"; }
        jsv_correct() { echo "CORRECT $*"; }
        jsv_reject() { echo "REJECT $*"; }
        jsv_main() { jsv_on_start; jsv_on_verify; }
        """;

    private static async Task<string[]> VerifyAsync(string placementScript)
    {
        using var dir = new TempDir();
        var include = Directory.CreateDirectory(Path.Combine(dir.Path, "util", "resources", "jsv")).FullName;
        await File.WriteAllTextAsync(Path.Combine(include, "jsv_include.sh"), Include);
        var placement = Path.Combine(dir.Path, "placement");
        await File.WriteAllTextAsync(placement, "#!/bin/sh\n" + placementScript);
        File.SetUnixFileMode(placement, (UnixFileMode)0b111_101_101);
        var result = await ExternalCommands.RunAsync(new ExternalCommand("/bin/bash", [Path.Combine(Repo.Root, "deploy", "sge", "placement-jsv.sh")])
        {
            Environment = new Dictionary<string, string?>
            {
                ["SGE_ROOT"] = dir.Path,
                ["PLACEMENT_BIN"] = placement,
                ["PATH"] = "/usr/bin:/bin", // no qconf: the placement_images request
                ["JSV_TEST_IMAGE"] = "alpine:3.20",
            },
        });
        return result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    [Test]
    public async Task A_warning_of_placement_on_stderr_does_not_become_part_of_the_id_sent_to_qmaster()
    {
        var sent = await VerifyAsync("echo 'warning: something the site should know' >&2\necho img_0123456789ab\n");
        Assert.That(sent, Is.EqualTo(new[]
        {
            "DEL l_hard container_image",
            "ADD l_soft placement_images *+0123456789ab+*",
            "ENV CONTAINER_IMAGE alpine:3.20",
            "ENV PLACEMENT_IMAGE_ID img_0123456789ab",
            "CORRECT placement: image alpine:3.20 (img_0123456789ab) requested (soft)",
        }));
    }

    [Test]
    public async Task A_refused_reference_rejects_the_job_with_the_parsers_message_on_one_line()
    {
        var sent = await VerifyAsync("printf 'placement: ref: bad reference\\nAccepted forms: ...\\n' >&2\nexit 3\n");
        Assert.That(sent.Last(), Is.EqualTo("REJECT placement: ref: bad reference Accepted forms: ..."));
    }

    [Test]
    public async Task Output_that_is_not_an_id_rejects_the_job_instead_of_sending_it_to_qmaster()
    {
        var sent = await VerifyAsync("echo 'img_0123\nsurprise'\n");
        Assert.That(sent.Last(), Does.StartWith("REJECT placement: 'placement ref --id' printed 'img_0123 surprise', not an img_ id"));
        Assert.That(sent, Has.None.StartsWith("ADD").And.None.StartsWith("ENV"));
    }
}
