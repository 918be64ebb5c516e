using System.CommandLine;
using Placement.Core;
using Placement.Core.Configuration;
using Placement.Core.GridEngine;
using Placement.Core.Images;
using Placement.Core.Processes;

namespace Placement.Prefetcher.Cli;

/// <summary>
/// `placement sge …`: the Grid Engine integration (docs/gridengine.md): `complexes [--apply]` defines the complexes the
/// load sensor reports; `prolog` and `epilog` are the queue prolog/epilog (as root) that cache, mount and unmount a
/// job's image.
/// </summary>
internal static class SgeCommand
{
    private static readonly TimeSpan QconfTimeout = TimeSpan.FromSeconds(30);

    public static Command Create()
    {
        var command = new Command("sge", "Grid Engine integration: complexes, queue prolog and epilog (docs/gridengine.md)");
        command.Subcommands.Add(Complexes());
        command.Subcommands.Add(JobCommand("prolog", "Queue prolog (root@…): cache, lease and mount the job's image ($CONTAINER_IMAGE); never fails the queue"));
        command.Subcommands.Add(JobCommand("epilog", "Queue epilog (root@…): unmount the job's image and drop its lease"));
        return command;
    }

    private static Command Complexes()
    {
        var apply = new Option<bool>("--apply") { Description = "Merge them into the cell's complex table (qconf -sc, then qconf -Mc); without it, print them" };
        var images = new Option<string[]>("--image") { Description = "Also define a BOOL complex for this image reference (repeatable); catalog aliases always get one", AllowMultipleArgumentsPerToken = false };
        var command = new Command("complexes", "Print (or --apply) the complexes: img_<alias> per catalog image, container_image, placement_images, placement_cache_bytes, placement_cache_free_bytes") { apply, images };
        command.SetAction(async (parse, ct) =>
        {
            var options = GlobalOptions.LoadOptions(parse);
            var catalog = ImageCatalogs.From(options);
            var extra = new List<ImageReference>();
            foreach (var text in parse.GetValue(images) ?? [])
            {
                if (!catalog.TryResolve(text, out var parsed, out var error))
                    throw new PlacementException(PlacementErrorKind.BadReference, $"--image {error}");
                extra.Add(parsed);
            }
            var wanted = PlacementComplexes.For(PlacementComplexes.ImageIds(catalog, options.Catalog.Keys, extra));
            if (!parse.GetValue(apply))
            {
                Console.WriteLine("#name                        shortcut         type      relop requestable consumable default  urgency");
                foreach (var definition in wanted)
                    Console.WriteLine(definition.ToLine());
                return ExitCodes.Ok;
            }
            var current = await Qconf(["-sc"], null, ct).ConfigureAwait(false);
            var table = new ComplexTable(current.StandardOutput);
            var changes = table.Merge(wanted);
            if (changes.Count == 0)
            {
                Console.WriteLine($"complexes: all {wanted.Count} present and unchanged");
                return ExitCodes.Ok;
            }
            var file = Path.Combine(Path.GetTempPath(), $"placement-complexes-{Environment.ProcessId}");
            await File.WriteAllTextAsync(file, table.ToString(), ct).ConfigureAwait(false);
            try
            {
                await Qconf(["-Mc", file], null, ct).ConfigureAwait(false);
            }
            finally
            {
                File.Delete(file);
            }
            foreach (var change in changes)
                Console.WriteLine("complexes: " + change);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task<ExternalCommandResult> Qconf(IReadOnlyList<string> args, string? input, CancellationToken ct)
    {
        try
        {
            return await ExternalCommands.RunAsync(new ExternalCommand("qconf", args) { Timeout = QconfTimeout, StandardInput = input }, ct).ConfigureAwait(false);
        }
        catch (ExternalCommandException ex)
        {
            throw new PlacementException(PlacementErrorKind.Failure,
                $"{ex.Message}; is sge_qmaster running and is this host an admin host with SGE_ROOT set (qconf -sh)?", ex);
        }
    }

    /// <summary>
    /// prolog/epilog. They run as root with the JOB's environment, which the job owner controls: once the job's id, task
    /// and image are read, the whole environment is replaced by a fixed PATH (<see cref="JobEnvironment"/>), so a user
    /// cannot pick the programs root runs, the certificates or proxy of its pulls, or (PLACEMENT_*) another cache root.
    /// Pass the configuration with --config in the queue's prolog line.
    /// Always exits 0 (other codes put the queue into error state); failures reach the job through the state file.
    /// </summary>
    private static Command JobCommand(string name, string description)
    {
        var runDir = new Option<string>("--run-dir") { Description = $"Per-job state and mounts (default {GridEngineJob.DefaultRunDirectory}; the starter reads $PLACEMENT_SGE_RUN_DIR)", DefaultValueFactory = _ => GridEngineJob.DefaultRunDirectory };
        // Mounts and the starter's state live there; a relative path would depend on the execd's working directory.
        runDir.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string>() is { } dir && !Path.IsPathFullyQualified(dir))
                result.AddError($"--run-dir: '{dir}' is not an absolute path; give the directory from / (default {GridEngineJob.DefaultRunDirectory})");
        });
        var command = new Command(name, description) { runDir };
        command.SetAction(async (parse, ct) =>
        {
            GridEngineJob job;
            try
            {
                job = GridEngineJob.FromEnvironment();
            }
            catch (PlacementException ex)
            {
                Console.Error.WriteLine($"placement: sge {name}: {ex.Message}");
                return ExitCodes.Ok;
            }
            if (name == "prolog" && job.Image is null)
                return ExitCodes.Ok; // not a container job: nothing to do, and no configuration needed
            JobEnvironment.Reset(); // the job owner wrote it: root reads nothing of it from here on
            try
            {
                var mounter = new JobImageMounter(GlobalOptions.OpenCache(parse), parse.GetValue(runDir)!,
                    warning => Console.Error.WriteLine($"placement: sge {name}: job {job.JobId}.{job.TaskId}: warning: {warning}"));
                if (name == "prolog")
                    await mounter.PrologAsync(job, ct).ConfigureAwait(false);
                else
                    await mounter.EpilogAsync(job, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // sge_shepherd sends SIGTERM when the job is deleted while the image is prepared; dying of it
                // (or exiting non-zero) would put the queue in error state. The job is going away anyway.
                Console.Error.WriteLine($"placement: sge {name}: job {job.JobId}.{job.TaskId}: stopped (job deleted or shepherd terminated)");
                if (name == "prolog")
                    RecordFailure(job, parse.GetValue(runDir)!, ExitCodes.Failure, "the job was stopped while its image was being prepared");
            }
            catch (Exception ex)
            {
                // Configuration errors and bugs too: record them for the starter, keep the queue healthy.
                var message = ex is PlacementException or ConfigurationErrorsException ? ex.Message : ex.ToString();
                Console.Error.WriteLine($"placement: sge {name}: job {job.JobId}.{job.TaskId}: {message}");
                if (name == "prolog")
                    RecordFailure(job, parse.GetValue(runDir)!, ex is PlacementException p ? p.ExitCode : ex is ConfigurationErrorsException ? ExitCodes.Config : ExitCodes.Failure, message);
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static void RecordFailure(GridEngineJob job, string runDirectory, int exit, string message)
    {
        try
        {
            var dir = job.Directory(runDirectory);
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, JobImageState.FileName), new JobImageState(false, exit, message, job.Image ?? "").Render());
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"placement: sge prolog: cannot record the failure under {runDirectory}: {ex.Message}");
        }
    }
}
