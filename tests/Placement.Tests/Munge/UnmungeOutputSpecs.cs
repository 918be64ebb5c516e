using Placement.Core.Munge;

namespace Placement.Tests.Munge;

/// <summary>Reading unmunge's <c>--numeric --keys=STATUS,UID,GID,LENGTH</c> output: metadata lines, an empty line, the payload.</summary>
public sealed class UnmungeOutputSpecs
{
    [Test]
    public void The_uid_gid_and_payload_are_read_from_unmunges_output()
    {
        var credential = MungeCommands.Parse("STATUS:          0\nUID:             1000\nGID:             100\nLENGTH:          5\n\nhello");
        Assert.That(credential, Is.EqualTo(new MungeCredential(1000, 100, "hello")));
    }

    [TestCase("UID:\nUID:\n\n")]
    [TestCase("STATUS: 0\nUID: 0\nGID: 0\nUID: 1000\n\npayload")]
    public void Output_naming_a_key_twice_is_not_read(string output)
    {
        // Found by ParserFuzzSpecs: a repeated key threw ArgumentException out of ToDictionary; and which UID would it be?
        Assert.That(MungeCommands.Parse(output), Is.Null);
    }
}
