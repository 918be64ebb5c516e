using System.Reflection;
using System.Runtime.InteropServices;
using Placement.Core;
using Placement.Core.Configuration;
using Placement.Core.Images;

namespace Placement.SpankShim;

/// <summary>
/// C entry points called by the SPANK shim in native/ (declared in native/placement_core.h).
/// They never throw across the boundary: every failure becomes an exit code plus a message.
/// </summary>
internal static unsafe class Exports
{
    [UnmanagedCallersOnly(EntryPoint = "placement_ref_normalize")]
    public static int RefNormalize(byte* configPath, byte* reference, byte* canonical, nuint canonicalLength, byte* id, nuint idLength, byte* error, nuint errorLength)
    {
        try
        {
            var text = NativeStrings.Read(reference);
            if (!ImageReference.TryParse(text, out var parsed, out var message))
            {
                NativeStrings.Write(message, error, errorLength);
                return ExitCodes.BadReference;
            }
            var options = PlacementConfiguration.Load(NativeStrings.Read(configPath));
            NativeStrings.Write(parsed.Canonical, canonical, canonicalLength);
            NativeStrings.Write(ImageCatalogs.From(options).IdFor(parsed), id, idLength);
            return ExitCodes.Ok;
        }
        catch (ConfigurationErrorsException ex)
        {
            NativeStrings.Write(ex.Message, error, errorLength);
            return ExitCodes.Config;
        }
        catch (Exception ex)
        {
            NativeStrings.Write($"internal error: {ex.GetType().Name}: {ex.Message}", error, errorLength);
            return ExitCodes.Failure;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "placement_version")]
    public static int Version(byte* buffer, nuint length)
    {
        NativeStrings.Write(typeof(Exports).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown", buffer, length);
        return ExitCodes.Ok;
    }
}
