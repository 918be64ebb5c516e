namespace Placement.Core.Materialize;

/// <summary>Thrown while applying one entry; <see cref="LayerApplier"/> turns it into a <see cref="LayerException"/> naming the layer and entry.</summary>
internal sealed class EntryRejectedException(LayerErrorKind kind, string reason) : Exception(reason)
{
    public LayerErrorKind Kind { get; } = kind;
}
