using Placement.Core.GridEngine;

namespace Placement.Tests.GridEngine;

/// <summary>Merging Placement's complexes into a cell's table (qconf -sc → qconf -Mc).</summary>
public sealed class ComplexTableSpecs
{
    private const string Existing = """
        #name               shortcut   type        relop requestable consumable default  urgency
        #----------------------------------------------------------------------------------------
        arch                a          RESTRING    ##    YES         NO         NONE     0
        h_vmem              h_vmem     MEMORY      <=    YES         NO         0        0
        img_tiny            img_tiny   BOOL        ==    YES         NO         1        0
        # >#< starts a comment but comments are not saved across edits --------
        """;

    [Test]
    public void Merging_keeps_every_existing_row_adds_missing_ones_fixes_ours_and_is_idempotent()
    {
        var table = new ComplexTable(Existing);
        var wanted = PlacementComplexes.For(["img_tiny", "img_0123456789ab"]);
        var changes = table.Merge(wanted);
        Assert.That(changes.Count(c => c.StartsWith("add ", StringComparison.Ordinal)), Is.EqualTo(5));
        Assert.That(changes.Single(c => c.StartsWith("update ", StringComparison.Ordinal)), Does.StartWith("update img_tiny"));
        var text = table.ToString();
        Assert.That(text, Does.Contain("arch                a          RESTRING").And.Contain("h_vmem"));
        Assert.That(table.Definitions["placement_images"].Type, Is.EqualTo("RESTRING"));
        Assert.That(table.Definitions["img_tiny"].Default, Is.EqualTo("0"));
        Assert.That(text.TrimEnd(), Does.EndWith("comments are not saved across edits --------"), "rows go before the trailing comment");

        var again = new ComplexTable(text);
        Assert.That(again.Merge(wanted), Is.Empty);
        Assert.That(again.ToString(), Is.EqualTo(text));
    }

    [Test]
    public void A_shortcut_taken_by_another_complex_is_refused_naming_both()
    {
        var table = new ComplexTable(Existing + "\nother               pl_images  INT         <=    YES         NO         0        0\n");
        var ex = Assert.Throws<Placement.Core.PlacementException>(() => table.Merge(PlacementComplexes.For([])));
        Assert.That(ex!.Message, Does.Contain("pl_images").And.Contain("other"));
    }
}
