using Microsoft.Extensions.Options;

namespace Placement.Core.Configuration;

/// <summary>Attribute rules ([Range], [Required]) checked by generated code (no reflection).</summary>
[OptionsValidator]
public sealed partial class PlacementOptionsValidator : IValidateOptions<PlacementOptions>;
