using System.Reflection;
using System.Runtime.InteropServices;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Core.Slurm;

namespace Placement.SpankShim;

/// <summary>
/// C entry points the SPANK shim in native/ looks up with dlsym (native/core.c, native/placement_core.h).
/// They never throw across the boundary: every failure becomes an exit code plus a message.
/// </summary>
internal static unsafe class Exports
{
    [UnmanagedCallersOnly(EntryPoint = "placement_core_ref_normalize")]
    public static int RefNormalize(byte* configPath, byte* reference, byte* canonical, nuint canonicalLength, byte* id, nuint idLength, byte* error, nuint errorLength)
    {
        try
        {
            var text = NativeStrings.Read(reference);
            var options = PlacementConfiguration.Load(NativeStrings.Read(configPath));
            var catalog = ImageCatalogs.From(options);
            if (!catalog.TryResolve(text, out var parsed, out var message))
            {
                NativeStrings.Write(message, error, errorLength);
                return ExitCodes.BadReference;
            }
            NativeStrings.Write(parsed.Canonical, canonical, canonicalLength);
            NativeStrings.Write(catalog.IdFor(parsed), id, idLength);
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

    /// <summary>How often the fallback asks slurmctld whether the step's job still runs (as the agent does).</summary>
    private static readonly TimeSpan JobEndInterval = TimeSpan.FromSeconds(15);

    /// <summary>How long a step whose job ended waits for its given-up pull to unwind (<see cref="ImageCache.SettleAsync"/>).</summary>
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Node side (slurmstepd, root, never a forked task): makes sure the image is in this node's cache
    /// (single-flight with every other job and the agent) and leases it for <paramref name="holder"/>
    /// (e.g. "slurm-42.0") until <see cref="Release"/> or the lease TTL, pulling under the job owner <paramref name="uid"/>'s
    /// share of the node's pulls (<c>Cache:MaxConcurrentPullsPerUser</c>; -1: unknown).
    /// </summary>
    /// <remarks>Named <c>_as</c> since it takes the uid: a spank_placement.so of another build, calling it by the old name
    /// with the old arguments, finds no such symbol and says so instead of passing mismatched arguments.</remarks>
    [UnmanagedCallersOnly(EntryPoint = "placement_core_ensure_as")]
    public static int Ensure(byte* configPath, byte* node, byte* reference, byte* holder, int uid,
        byte* canonical, nuint canonicalLength, byte* id, nuint idLength, byte* digest, nuint digestLength,
        byte* path, nuint pathLength, byte* error, nuint errorLength)
    {
        var text = NativeStrings.Read(reference);
        try
        {
            var options = PlacementConfiguration.Load(NativeStrings.Read(configPath));
            using var cache = new ImageCache(options, NativeStrings.Read(node));
            if (!cache.Catalog.TryResolve(text, out var parsed, out var message))
            {
                NativeStrings.Write(message, error, errorLength);
                return ExitCodes.BadReference;
            }
            var leaseHolder = NativeStrings.Read(holder);
            // Here only when the node agent is gone: watch the step's job as the agent would, so a job cancelled while
            // this waits (for a pull slot, another process's pull) ends instead of leaving its step unkillable.
            var job = string.IsNullOrEmpty(leaseHolder) ? null : StepLeases.SlurmJob(leaseHolder);
            using var watch = job is null ? null : new JobEndSignal(
                new Scontrol(options.Agent.ScontrolPath, TimeSpan.FromSeconds(options.Agent.ScontrolTimeoutSeconds)), job, JobEndInterval);
            CachedImage image;
            try
            {
                image = cache.EnsureAsync(parsed, "job", cancellationToken: watch?.Ended ?? CancellationToken.None, uid: uid >= 0 ? uid : null).GetAwaiter().GetResult();
            }
            catch (OperationCanceledException) when (watch is { Ended.IsCancellationRequested: true })
            {
                // slurmstepd ends with the step: let the pull given up unwind first (its build directory removed).
                cache.SettleAsync(SettleTimeout).GetAwaiter().GetResult();
                NativeStrings.Write($"image {text}: job {job} ended ({watch.Why}) while its image was being prepared; stopped waiting for it", error, errorLength);
                return ExitCodes.Failure;
            }
            if (!string.IsNullOrEmpty(leaseHolder))
                cache.Lease(image, leaseHolder);
            NativeStrings.Write(image.Ref, canonical, canonicalLength);
            NativeStrings.Write(image.Id, id, idLength);
            NativeStrings.Write(image.Digest, digest, digestLength);
            NativeStrings.Write(image.Path, path, pathLength);
            return ExitCodes.Ok;
        }
        catch (ConfigurationErrorsException ex)
        {
            NativeStrings.Write(ex.Message, error, errorLength);
            return ExitCodes.Config;
        }
        catch (PlacementException ex)
        {
            NativeStrings.Write($"image {text}: {ex.Message}", error, errorLength);
            return ex.ExitCode;
        }
        catch (Exception ex)
        {
            NativeStrings.Write($"image {text}: internal error: {ex.GetType().Name}: {ex.Message}", error, errorLength);
            return ExitCodes.Failure;
        }
    }

    /// <summary>Drops every lease of <paramref name="holder"/> on this node. Idempotent.</summary>
    [UnmanagedCallersOnly(EntryPoint = "placement_core_release")]
    public static int Release(byte* configPath, byte* node, byte* holder, byte* error, nuint errorLength)
    {
        try
        {
            var options = PlacementConfiguration.Load(NativeStrings.Read(configPath));
            using var cache = new ImageCache(options, NativeStrings.Read(node));
            cache.Release(NativeStrings.Read(holder) ?? "");
            return ExitCodes.Ok;
        }
        catch (Exception ex)
        {
            NativeStrings.Write($"release: {ex.Message}", error, errorLength);
            return ex is PlacementException p ? p.ExitCode : ExitCodes.Failure;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "placement_core_version")]
    public static int Version(byte* buffer, nuint length)
    {
        NativeStrings.Write(typeof(Exports).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown", buffer, length);
        return ExitCodes.Ok;
    }
}
