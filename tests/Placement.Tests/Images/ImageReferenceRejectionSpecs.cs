using System.Diagnostics;
using NUnit.Framework;
using Placement.Core.Images;

namespace Placement.Tests.Images;

[TestFixture]
public sealed class ImageReferenceRejectionSpecs
{
    private const string AcceptedForms =
        "Accepted forms: docker://[host[:port]/]repo[:tag][@sha256:<64 hex>], [user@][host[:port]#]repo[:tag] (enroot/pyxis), " +
        "https://host/path/image.sif|.sqsh[#sha256=<64 hex>], /absolute/path or file:///absolute/path";

    [TestCaseSource(typeof(HostileReferences), nameof(HostileReferences.All))]
    public void A_hostile_reference_is_refused_with_a_specific_reason(string? input, string expectedFragment)
    {
        var exception = Assert.Throws<ImageReferenceException>(() => ImageReference.Parse(input!))!;

        Assert.That(exception.Message, Does.Contain(expectedFragment));
        Assert.That(exception.Reason, Does.Contain(expectedFragment));
        Assert.That(exception.Message, Does.StartWith("invalid image reference '"));
        Assert.That(exception.Message, Does.EndWith(". " + AcceptedForms));
        Assert.That(exception.Input, Is.EqualTo(input ?? ""));
        Assert.That(exception, Is.InstanceOf<FormatException>());
    }

    [TestCaseSource(typeof(HostileReferences), nameof(HostileReferences.All))]
    public void TryParse_refuses_a_hostile_reference_without_throwing_and_gives_the_same_message(string? input, string expectedFragment)
    {
        bool accepted = true;
        ImageReference? reference = null;
        string? error = null;
        Assert.DoesNotThrow(() => accepted = ImageReference.TryParse(input, out reference, out error));

        Assert.That(accepted, Is.False);
        Assert.That(reference, Is.Null);
        Assert.That(error, Does.Contain(expectedFragment));
        if (input is not null)
            Assert.That(error, Is.EqualTo(Assert.Throws<ImageReferenceException>(() => ImageReference.Parse(input))!.Message));
    }

    [TestCaseSource(typeof(HostileReferences), nameof(HostileReferences.All))]
    public void An_error_message_carries_no_control_or_invisible_characters(string? input, string expectedFragment)
    {
        ImageReference.TryParse(input, out _, out var error);

        Assert.That(error!.Where(c => c is < ' ' or > '~' && c != '…'), Is.Empty, expectedFragment);
    }

    [Test]
    public void The_hostile_table_has_at_least_200_inputs() =>
        Assert.That(HostileReferences.Count, Is.GreaterThanOrEqualTo(200));

    [Test]
    public void Control_characters_are_shown_escaped_in_the_message()
    {
        ImageReference.TryParse("a\0b\nc\rd\te\u001bf", out _, out var error);

        Assert.That(error, Does.StartWith(@"invalid image reference 'a\0b\nc\rd\te\x1Bf': contains a NUL byte (character 2)"));
    }

    [Test]
    public void Non_ascii_characters_are_shown_as_code_points_in_the_message()
    {
        ImageReference.TryParse("ubunt\u0430\u202e\U0001F600", out _, out var error);

        Assert.That(error, Does.StartWith(@"invalid image reference 'ubunt\u{0430}\u{202E}\u{1F600}': character U+0430 (Cyrillic) at character 6 is not allowed; references are ASCII"));
    }

    [Test]
    public void Quotes_and_backslashes_in_the_input_are_escaped_so_the_quoting_stays_unambiguous()
    {
        ImageReference.TryParse(@"it's\x", out _, out var error);

        Assert.That(error, Does.StartWith(@"invalid image reference 'it\'s\\x': shell metacharacter '\'' is not allowed"));
    }

    [Test]
    public void A_long_input_is_truncated_in_the_message()
    {
        var input = "ubuntu:" + new string('t', 300);

        ImageReference.TryParse(input, out _, out var error);

        Assert.That(error, Does.StartWith("invalid image reference 'ubuntu:" + new string('t', 93) + "…': tag is 300 characters long; the limit is 128"));
    }

    [Test]
    public void Credentials_in_a_url_are_not_repeated_in_the_message()
    {
        var exception = Assert.Throws<ImageReferenceException>(() => ImageReference.Parse("https://bob:hunter2@example.com/x.sif"))!;

        Assert.That(exception.Message, Does.Not.Contain("hunter2"));
        Assert.That(exception.Message, Does.Not.Contain("bob"));
        Assert.That(exception.Message, Does.StartWith("invalid image reference 'https://***@example.com/x.sif': credentials in the URL"));
    }

    [Test]
    public void Parse_of_null_is_a_reference_error_not_a_null_reference_exception()
    {
        var exception = Assert.Throws<ImageReferenceException>(() => ImageReference.Parse(null!))!;

        Assert.That(exception.Reason, Is.EqualTo("no image reference given (null)"));
    }

    [Test]
    public void TryParse_never_throws_on_random_text_and_agrees_with_Parse()
    {
        // Deterministic fuzz over the characters the grammar cares about plus a few hostile ones.
        const string alphabet = "abcAZ09.-_/:@#?&%=+~[] \0\n\t\u0430\u202e;$'\\";
        var random = new Random(20240601);
        for (var i = 0; i < 20000; i++)
        {
            var prefix = (i % 5) switch { 0 => "docker://", 1 => "https://h.io/", 2 => "/", 3 => "file:///", _ => "" };
            var length = random.Next(0, 40);
            var text = prefix + new string(Enumerable.Range(0, length).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());

            bool accepted = false;
            string? error = null;
            Assert.DoesNotThrow(() => accepted = ImageReference.TryParse(text, out _, out error), text);
            if (accepted)
                Assert.DoesNotThrow(() => ImageReference.Parse(text), text);
            else
                Assert.That(Assert.Throws<ImageReferenceException>(() => ImageReference.Parse(text))!.Message, Is.EqualTo(error), text);
        }
    }

    [TestCase("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-")]
    [TestCase("a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-_")]
    public void Validating_a_long_almost_valid_component_takes_linear_time(string component)
    {
        // Docker's component regex backtracks exponentially on these; the hand-written check must not.
        var stopwatch = Stopwatch.StartNew();
        Assert.That(ImageReference.TryParse("x/" + component + component + component, out _, out _), Is.False);
        Assert.That(stopwatch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(1)));
    }
}
