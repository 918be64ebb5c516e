using System.Collections.Concurrent;
using System.CommandLine;
using System.Globalization;
using System.Text;
using Placement.Core;
using Placement.Core.Cache;
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
        command.Subcommands.Add(Jsv());
        return command;
    }

    /// <summary>How often the JSV asks <c>qconf -sc</c> again, unless --complex-refresh says otherwise.</summary>
    private const int ComplexRefreshSeconds = 30;

    /// <summary>qconf -sc inside the JSV, in the background; a client JSV's first job waits for it: well within
    /// jsv_timeout (10 s by default), after which qsub gives up on the JSV.</summary>
    private static readonly TimeSpan JsvQconfTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// `placement sge jsv`: the job submission verifier (<see cref="JsvSession"/>), on stdin/stdout, for
    /// deploy/sge/placement-jsv.sh (server side: jsv_url; client side: qsub -jsv). Bytes pass through unchanged (Latin-1).
    /// </summary>
    private static Command Jsv()
    {
        var mode = new Option<string>("--mode") { Description = "soft (default: jobs prefer hosts holding their image) or hard (they wait for one)", DefaultValueFactory = _ => "soft" };
        var refresh = new Option<string>("--complex-refresh")
        {
            Description = $"Seconds between asks of `qconf -sc` for the img_ complexes, in the background (default {ComplexRefreshSeconds}; 1-3600)",
            DefaultValueFactory = _ => ComplexRefreshSeconds.ToString(CultureInfo.InvariantCulture),
        };
        var command = new Command("jsv", "Job submission verifier (jsv_url or qsub -jsv, through deploy/sge/placement-jsv.sh): steers jobs naming an image to hosts holding it") { mode, refresh };
        command.SetAction(async (parse, ct) =>
        {
            // Nothing goes to stderr: qmaster takes any line there for a failed JSV (8.1.9 jsv_do_communication: the job
            // is rejected and the JSV restarted). What the admin should know goes to qmaster's messages as LOG lines.
            var logs = new ConcurrentQueue<string>();
            string? warning = null;
            var modeText = parse.GetValue(mode) ?? "soft";
            if (modeText is not ("soft" or "hard"))
            {
                warning = $"placement: jsv: mode '{modeText}' is not soft or hard (PLACEMENT_JSV_MODE in the JSV's environment); using soft";
                modeText = "soft";
            }
            var refreshText = parse.GetValue(refresh) ?? "";
            if (!int.TryParse(refreshText, NumberStyles.None, CultureInfo.InvariantCulture, out var refreshSeconds) || refreshSeconds is < 1 or > 3600)
            {
                logs.Enqueue($"LOG WARNING placement: jsv: complex refresh '{SchedulerCommands.OneLine(refreshText)}' is not a whole number of seconds from 1 to 3600 " +
                             $"(PLACEMENT_JSV_COMPLEX_REFRESH in the JSV's environment); using {ComplexRefreshSeconds}");
                refreshSeconds = ComplexRefreshSeconds;
            }
            Func<string, JsvImage> resolve;
            try
            {
                var catalog = ImageCatalogs.From(GlobalOptions.LoadOptions(parse));
                resolve = text => catalog.TryResolve(text, out var reference, out var error)
                    ? JsvImage.Of(catalog.IdFor(reference))
                    : JsvImage.Refused("placement: ref: " + error);
            }
            catch (Exception ex) when (ex is ConfigurationErrorsException or PlacementException)
            {
                // Jobs naming an image cannot be steered until the configuration is fixed; the others pass. The errors go
                // to qmaster's messages in full, one LOG line each (at the first job this JSV sees); the refusal, which
                // qsub cuts short, names the first and says where the others are.
                IReadOnlyList<string> errors = ex is ConfigurationErrorsException c ? c.Errors : [ex.Message];
                var source = ex is ConfigurationErrorsException s ? s.Source : "the configuration";
                logs.Enqueue($"LOG ERROR placement: jsv: invalid configuration ({SchedulerCommands.OneLine(source)}), {errors.Count} error(s); jobs naming an image are refused until it is fixed:");
                foreach (var error in errors)
                    logs.Enqueue($"LOG ERROR placement: jsv:   - {SchedulerCommands.OneLine(error, MaxLogLine)}");
                var message = $"placement: jsv: the site's Placement configuration is invalid, so images cannot be resolved ({errors.Count} error(s); " +
                              $"the first: {errors[0]}); ask the admin, who finds them all in qmaster's messages file";
                resolve = _ => JsvImage.Refused(message);
            }
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            // Which img_ complexes exist, asked in the background (a server JSV must not wait for qmaster: JsvComplexes). Not
            // an admin host, or qmaster busy: the last list, else the load sensor's list, which needs no complex.
            var complexes = new JsvComplexes(async token =>
                {
                    var table = await ExternalCommands.RunAsync(new ExternalCommand("qconf", ["-sc"]) { Timeout = JsvQconfTimeout }, token).ConfigureAwait(false);
                    return [.. new ComplexTable(table.StandardOutput).Definitions.Keys];
                },
                TimeSpan.FromSeconds(refreshSeconds),
                (level, message) => logs.Enqueue($"LOG {level} placement: jsv: {SchedulerCommands.OneLine(message)}"),
                stopping: stop.Token);
            var asking = complexes.StartAsync();
            var session = new JsvSession(resolve, complexes.Contains, modeText == "hard", warning);
            using var input = new StreamReader(Console.OpenStandardInput(), Encoding.Latin1);
            using var output = new StreamWriter(Console.OpenStandardOutput(), Encoding.Latin1) { AutoFlush = true, NewLine = "\n" };
            while (!session.Done && await input.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
            {
                IReadOnlyList<string> answers;
                try
                {
                    answers = session.Handle(line);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // A bug must not take qmaster's submissions down with the JSV: this job is refused with the reason.
                    answers = [$"LOG ERROR placement: jsv: {SchedulerCommands.OneLine(ex.ToString())}",
                        $"RESULT STATE REJECT placement: jsv: failed on this job ({SchedulerCommands.OneLine(ex.Message)}); see qmaster's messages"];
                }
                // Logs go out with an answer (to START or BEGIN), where qmaster reads, never on their own.
                while (answers.Count > 0 && logs.TryDequeue(out var log))
                    await output.WriteLineAsync(log).ConfigureAwait(false);
                foreach (var answer in answers)
                    await output.WriteLineAsync(answer).ConfigureAwait(false);
            }
            // QUIT or end of input: a qconf still running is stopped, not left behind.
            await stop.CancelAsync().ConfigureAwait(false);
            await asking.WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>A LOG line of an error whole: an unknown key's error lists the known ones, past the 500 characters a
    /// client's message is cut to.</summary>
    private const int MaxLogLine = 4000;

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
            // A directory of our own (0700, a fresh name): a guessable file in /tmp could be a user's symlink or a file
            // they rewrite before qconf reads it, as manager.
            var dir = Directory.CreateTempSubdirectory("placement-complexes-");
            try
            {
                var file = Path.Combine(dir.FullName, "complexes");
                await using (var stream = new FileStream(file, FileMode.CreateNew, FileAccess.Write))
                await using (var writer = new StreamWriter(stream))
                    await writer.WriteAsync(table.ToString().AsMemory(), ct).ConfigureAwait(false);
                await Qconf(["-Mc", file], null, ct).ConfigureAwait(false);
            }
            finally
            {
                dir.Delete(recursive: true);
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
                ImageCache cache;
                try
                {
                    cache = GlobalOptions.OpenCache(parse);
                }
                catch (Exception ex) when (name == "epilog" && ex is PlacementException or ConfigurationErrorsException)
                {
                    // The configuration broke while the job ran: the unmount needs none, and a mount, its squashfuse and
                    // the job dir left behind would outlive the job (nothing else sweeps the run dir).
                    var done = await JobImageMounter.UnmountJobAsync(job, parse.GetValue(runDir)!, ct).ConfigureAwait(false);
                    Console.Error.WriteLine($"placement: sge epilog: job {job.Name}: {ex.Message}; {done}; " +
                        $"the lease {job.LeaseHolder} stays until the node agent's lease check (Agent:LeaseCheckIntervalSeconds) finds the job gone; fix the configuration");
                    return ExitCodes.Ok;
                }
                var mounter = new JobImageMounter(cache, parse.GetValue(runDir)!,
                    warning => Console.Error.WriteLine($"placement: sge {name}: job {job.Name}: warning: {warning}"));
                if (name == "prolog")
                    await mounter.PrologUnlessDeletedAsync(job, ct).ConfigureAwait(false);
                else
                    await mounter.EpilogAsync(job, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException ex)
            {
                // A qdel (JobDeletionWatch: SoGE 8.1.9 sends a running prolog no signal for it) or a SIGTERM (an admin)
                // cancels the pull or the wait for one; dying of it (or exiting non-zero: 99 re-queues, others put the queue
                // in error state) would be wrong. Exit 0: the shepherd, holding the kill, starts no job (docs/gridengine.md).
                Console.Error.WriteLine($"placement: sge {name}: job {job.Name}: " + (ex is JobDeletedException ? ex.Message : "stopped (shepherd or admin terminated the prolog)"));
                if (name == "prolog")
                    RecordFailure(job, parse.GetValue(runDir)!, ExitCodes.Failure, "the job was stopped while its image was being prepared");
            }
            catch (Exception ex)
            {
                // Configuration errors and bugs too: record them for the starter, keep the queue healthy.
                var message = ex is PlacementException or ConfigurationErrorsException ? ex.Message : ex.ToString();
                Console.Error.WriteLine($"placement: sge {name}: job {job.Name}: {message}");
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
