using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Placement.Core;
using Placement.Core.AgentSocket;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.GridEngine;
using Placement.Core.Images;
using Placement.Core.Munge;
using Placement.Core.Prefetch;
using Placement.Core.Simulation;
using Placement.Core.Slurm;
using Placement.Core.Sources;
using Placement.Core.Sources.Json;
using Placement.Core.Warm;
using Placement.LoadSensor;
using Placement.Tests.Support;

namespace Placement.Tests.Robustness;

/// <summary>
/// DEVELOPERS: bad input always gets a clear, specific error and never crashes. A deterministic mutation sweep (fixed
/// seeds, <see cref="Mutator"/>) over every pure parser of outside input: the only acceptable outcomes are success,
/// the parser's documented false/null, or its documented exception with a message. Any other exception, or a parse
/// taking more than a second, fails the spec with the shortest input found (shrunk) and the exception. Each bug found
/// this way keeps its minimal input as a plain [TestCase] beside the parser's own specs.
/// </summary>
[TestFixture]
public sealed class ParserFuzzSpecs
{
    /// <summary>Random mutants per parser on top of every truncation of every seed.</summary>
    private const int Mutations = 1500;

    private static readonly TimeSpan Slow = TimeSpan.FromSeconds(1);

    private static readonly string Hex = new('a', 64);

    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("placement-fuzz-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void Image_references_and_catalog_lookups()
    {
        var catalog = new ImageCatalog([new("ubuntu", "docker://ubuntu:22.04"), new("big", "https://files.example.org/big.sqsh")]);
        SweepText(1, [
            "ubuntu", "ubuntu:22.04", "big", "docker://nvcr.io/nvidia/pytorch:24.01-py3", "nvcr.io#nvidia/pytorch:24.01-py3",
            $"user@registry.example.org:5000#team/app:1.0@sha256:{Hex}", $"localhost:5000/a/b-c_d.e@sha256:{Hex}",
            $"https://host.example:8443/images/x.sqsh?sig=abc&x=1#sha256={Hex}", "http://127.0.0.1/x.sif", "file:///scratch/images/app.sqsh",
            "docker://docker.io/library/ubuntu:latest",
        ], text =>
        {
            if (ImageReference.TryParse(text, out var reference, out var error))
            {
                // The canonical form travels through schedulers and comes back: it must name the same image.
                var again = ImageReference.Parse(reference.Canonical);
                Require(again.Canonical == reference.Canonical, $"canonical '{reference.Canonical}' parses back as '{again.Canonical}'");
                Require(ImageIds.IsValid(reference.SchedulerId), $"scheduler id '{reference.SchedulerId}'");
            }
            else
                Require(error.Length > 0, "TryParse false with an empty error");
            if (catalog.TryResolve(text, out var resolved, out var resolveError))
                Require(ImageIds.IsValid(catalog.IdFor(resolved)), "catalog id");
            else
                Require(resolveError.Length > 0, "TryResolve false with an empty error");
            _ = ImageReference.Parse(text);
        }, ex => ex is ImageReferenceException);
    }

    [Test]
    public void Sizes_bandwidths_durations_and_other_configuration_values()
    {
        SweepText(2, ["40GiB", "500M", "1073741824", "85%", "1.5TB", "10Gbit/s", "90s", "1.5d", "08:00-18:00", "0.0.0.0:9464", "*:1",
            "harbor.site.example:443/dockerhub/", "linux/arm64/v8", "https://index.docker.io/v1/", "[::1]:5000", "quay.io/org/team-a/"], text =>
        {
            if (SizeLimit.TryParse(text, out var limit, out var error))
                Require(limit.IsPercent ? limit.Percent is > 0 and <= 100 : limit.Bytes > 0, $"limit {limit}");
            else
                Require(error.Length > 0, "SizeLimit false with an empty error");
            _ = Units.TryParseBytes(text, out _, out _);
            if (Units.TryParseBandwidth(text, out var bandwidth, out _))
                Require(double.IsFinite(bandwidth) && bandwidth > 0, $"bandwidth {bandwidth}");
            if (Units.TryParseDuration(text, out var seconds, out _))
                Require(double.IsFinite(seconds) && seconds >= 0, $"duration {seconds}");
            _ = QuietHours.TryParse(text, out _, out _, out _);
            if (!ListenAddress.TryParse(text, out _, out var listenError))
                Require(!string.IsNullOrEmpty(listenError), "ListenAddress false with an empty error");
            _ = RegistryHosts.TryParseMirrorLocation(text, out _, out _);
            if (!CredentialKey.TryParse(text, out _, out var problem))
                Require(problem.Length > 0, "CredentialKey false with an empty problem");
            _ = DockerCredentialStore.NormalizeKey(text);
            _ = MediaTypes.CompressionOf(text);
            try
            {
                _ = PlatformSpec.Parse(text);
            }
            catch (ArgumentException ex) when (ex.GetType() == typeof(ArgumentException) && ex.Message.Length > 0)
            {
            }
            _ = SizeLimit.Parse(text);
        }, ex => ex is FormatException);
    }

    [Test]
    public void Swf_traces()
    {
        var rules = new[] { ImageRule.Zipf, ImageRule.User, ImageRule.Executable };
        var n = 0;
        SweepText(3, [
            "; Version: 2.2\n; Computer: test\n1 0 10 3600 4 -1 -1 4 7200 -1 1 3 1 5 1 1 -1 -1\n2 60 0 120 1 -1 -1 1 600 -1 1 7 1 2 1 1 -1 -1\n",
            "3 100 5 -1 8 -1 -1 8 60 -1 5 2 2 9 1 1 -1 -1\n\t4 130.5 1 30 0 -1 -1 2 60 -1 1 1 1 1 1 1 -1 -1",
        ], text =>
        {
            var assignment = new ImageAssignment(rules[n++ % rules.Length], 7, 1.1, 42);
            CheckTrace(TraceReader.ReadSwf(new StringReader(text), "t.swf", assignment));
        }, ex => ex is TraceFormatException { Line: > 0 });
    }

    [Test]
    public void Csv_traces()
    {
        SweepText(4, [
            "submit,runtime,cores,image,size\n0,3600,4,docker://ubuntu:22.04,1GiB\n60,120,1,docker://ubuntu:22.04,1GiB\n# comment\n90.5,10,2,b,500MB\n",
            "0,1,1,a,1073741824\n1,1,1,a,1073741824\n",
        ], text => CheckTrace(TraceReader.ReadCsv(new StringReader(text), "t.csv")), ex => ex is TraceFormatException { Line: > 0 });
    }

    [Test]
    public void Slurm_queue_job_and_node_listings()
    {
        const string split = "\n=====\n";
        SweepText(5, [
            "7\tN/A\tPENDING\tN/A\t(null)\t\n8\tN/A\tRUNNING\t2026-11-23T10:00:00\timg_aaaaaaaaaaaa\t\n20\t3-10%2\tPENDING\tN/A\t(null)\t\n30\t1,4,6-9:3%4\tPENDING\tN/A\t(null)\t\n"
            + split +
            "JobId=7 JobName=x UserId=u(1) JobState=PENDING Prefer=big&img_0123456789ab Comment=c AdminComment=site note placement_image=docker://reg/app:1 Command=/bin/true\n"
            + "JobId=8 JobState=RUNNING StartTime=2026-11-23T10:00:00 Features=img_aaaaaaaaaaaa Prefer=(null)\n",
            "9\tN/A\tRUNNING\t0001-01-01T00:00:00\t(null)\t\n10\tN/A\tRUNNING\t9999-12-31T23:59:59\t(null)\t\n",
            "n1 idle 0.01 4\nn2 mixed 1.50 8\nn3 down* N/A 4\nn1 idle 0.01 4\n",
            "PID      JOBID    STEPID   LOCALID GLOBALID\n1234     42       0        0       0\n1240     42       batch    -       -\n",
        ], text =>
        {
            var cut = text.IndexOf(split, StringComparison.Ordinal);
            var jobs = SlurmQueue.ParseJobs(cut < 0 ? text : text[..cut], cut < 0 ? "" : text[(cut + split.Length)..]);
            Require(jobs.All(j => j.Count >= 1), "a job counts fewer than one task");
            foreach (var node in SlurmQueue.ParseNodes(text))
            {
                _ = SlurmQueue.MapState(node.State);
                Require(node.Load is null || !double.IsNaN(node.Load.Value), "NaN load");
            }
            _ = NodeFeatures.ParseList(text);
            Require(SlurmQueue.PendingTasks(text) >= 1, "fewer than one pending task");
            _ = Scontrol.ParseListPids(text);
        }, ex => ex is PlacementException);
    }

    [Test]
    public void Grid_engine_qstat_and_qhost_xml_and_the_complex_table()
    {
        const string split = "\n=====\n";
        SweepText(6, [
            Fixture("qstat-u.xml"),
            Fixture("qstat-f.xml") + split + Fixture("qhost.xml"),
            """
            <?xml version='1.0'?>
            <detailed_job_info><djob_info><element><JB_job_number>308</JB_job_number>
            <JB_soft_resource_list><qstat_l_requests><CE_name>placement_images</CE_name><CE_stringval>*+d633ccfae959+*</CE_stringval></qstat_l_requests></JB_soft_resource_list>
            <JB_hard_resource_list><qstat_l_requests><CE_name>img_ubuntu</CE_name><CE_stringval>TRUE</CE_stringval></qstat_l_requests></JB_hard_resource_list>
            <JB_env_list><job_sublist><VA_variable>PLACEMENT_IMAGE</VA_variable><VA_value>docker://ubuntu:22.04</VA_value></job_sublist></JB_env_list>
            </element></djob_info></detailed_job_info>
            """,
            "#name               shortcut   type        relop requestable consumable default  urgency\n" +
            "#----------------------------------------------------------------------------------------\n" +
            "arch                a          RESTRING    ==    YES         NO         NONE     0\n" +
            "img_ubuntu          img_ubuntu BOOL        ==    YES         NO         FALSE    0\n",
        ], text =>
        {
            var cut = text.IndexOf(split, StringComparison.Ordinal);
            Require(GridEngineQueue.TaskCount(text) >= 1, "fewer than one task");
            foreach (var job in Attempt(() => GridEngineQueue.ParseJobList(text)) ?? [])
                Require(job.Count >= 1, "a job counts fewer than one task");
            _ = Attempt(() => GridEngineQueue.ParseJobDetails(text));
            _ = Attempt(() => GridEngineQueue.ParseHosts(cut < 0 ? text : text[..cut], cut < 0 ? "<qhost/>" : text[(cut + split.Length)..]));
            var table = new ComplexTable(text);
            _ = table.Definitions;
            _ = table.Merge(PlacementComplexes.For(["img_ubuntu", "img_0123456789ab"]));
        }, ex => ex is PlacementException, mutations: 1000);
    }

    [Test]
    public void Load_sensor_inventory_read_from_a_damaged_file()
    {
        var path = Path.Combine(_dir, "inventory.json");
        SweepBytes(7, [
            Encoding.UTF8.GetBytes("""
            {"version":1,"node":"n1","updated":"2026-11-23T10:00:00+00:00","cacheBytes":123456,"freeBytes":9999,"filesystemBytes":1000000,
             "highWatermarkBytes":850000,"images":[{"id":"img_ubuntu","ref":"docker://docker.io/library/ubuntu:22.04","digest":"sha256:HEX","size":1,
             "path":"/c/x.sqsh","lastUsed":"2026-11-23T10:00:00+00:00","pinned":true},{"id":"img_0123456789ab","ref":"r","digest":"d","size":2,"path":"p",
             "lastUsed":"2026-11-23T10:00:00+00:00","pinned":false,"leased":true}]}
            """.Replace("HEX", Hex, StringComparison.Ordinal)),
        ], bytes =>
        {
            File.WriteAllBytes(path, bytes);
            var scan = InventoryScanner.Read(path);
            Require(scan.Problem is null || scan.Problem.Length > 0, "empty problem");
            Require(scan.Ids.All(SensorReport.IsSafeId), "an unsafe id");
            Require(scan.CacheBytes is null or >= 0 && scan.FreeBytes is null or >= 0, "negative bytes");
        }, _ => false);
    }

    [Test]
    public void Agent_socket_requests()
    {
        var catalog = new ImageCatalog([new("ubuntu", "docker://ubuntu:22.04")]);
        SweepBytes(8, [
            """{"op":"get","ref":"docker://ubuntu:22.04","job":"42","step":"0"}"""u8.ToArray(),
            """{"op":"ensure","ref":"ubuntu","holder":"slurm-42.0"}"""u8.ToArray(),
            """{"op":"release","job":"42_7","step":"batch"}"""u8.ToArray(),
        ], line =>
        {
            // What AgentSocketServer does with a line: deserialize (JsonException is answered bad_request), then check
            // the job, step and holder and resolve the reference.
            var request = JsonSerializer.Deserialize(line, SocketJsonContext.Default.SocketRequest) ?? throw new JsonException("the request is JSON null");
            _ = LeaseHolders.Check("the job id (SLURM_JOB_ID)", request.Job) ?? LeaseHolders.Check("the step id (SLURM_STEP_ID)", request.Step);
            if (request.Job is { } job && request.Step is { } step && LeaseHolders.Check("job", job) is null && LeaseHolders.Check("step", step) is null)
                _ = LeaseHolders.ForImporter(1000, job, step);
            _ = catalog.TryResolve(request.Ref ?? "", out _, out _);
        }, ex => ex is JsonException or InvalidDataException);
    }

    [Test]
    public void Agent_http_warm_requests_and_munge_credentials()
    {
        var catalog = new ImageCatalog([new("ubuntu", "docker://ubuntu:22.04")]);
        SweepBytes(9, [
            """{"ref":"docker://ubuntu:22.04"}"""u8.ToArray(),
            "Munge MUNGE:AwQFAAD8hvXb3kQbCqm0TRx2yqYDNBLpUfL6HT7jM0TpwbntLTE:\n"u8.ToArray(),
            "STATUS:          0\nUID:             0\nGID:             0\nLENGTH:          12\n\nplacement-v1\nPOST\n"u8.ToArray(),
        ], body =>
        {
            var text = Encoding.UTF8.GetString(body);
            _ = WarmAuthentication.CredentialFrom(text);
            _ = MungeCommands.Parse(text);
            var warm = JsonSerializer.Deserialize(body, WarmJsonContext.Default.WarmRequest);
            if (warm?.Ref is { } reference)
                _ = catalog.TryResolve(reference, out _, out _);
        }, ex => ex is JsonException);
    }

    [Test]
    public void Docker_credential_files()
    {
        var path = Path.Combine(_dir, "auth.json");
        var auth = Convert.ToBase64String("user:password"u8);
        SweepBytes(10, [
            Encoding.UTF8.GetBytes("""{"auths":{"https://index.docker.io/v1/":{"auth":"AUTH"},"registry.example.org:5000":{"username":"u","password":"p"},"[::1]:5000":{"auth":"AUTH"},"quay.io/org/team":{"auth":"AUTH"},"docker.io/library":{"auth":"AUTH"}}}""".Replace("AUTH", auth, StringComparison.Ordinal)),
        ], bytes =>
        {
            File.WriteAllBytes(path, bytes);
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow);
            var store = new DockerCredentialStore(path);
            foreach (var registry in new[] { "docker.io", "registry.example.org:5000", "[::1]:5000", "quay.io" })
            foreach (var repository in new[] { "team/app", "ubuntu", "org/team/img", "org" })
            {
                if (store.Find(registry, repository, plainHttp: false) is { } found)
                    Require(found.Username is not null && found.Password is not null, "credentials with a null part");
                Require(store.DescribeMissing(registry, repository, plainHttp: true).Length > 0, "empty description");
            }
        }, ex => ex is SourceException, mutations: 800);
    }

    [Test]
    public void Www_authenticate_challenges()
    {
        SweepText(11, [
            "Bearer realm=\"https://auth.example.org/token\",service=\"registry.example.org\",scope=\"repository:a/b:pull,push\"",
            "Basic realm=\"Registry Realm\", charset=UTF-8",
            "Bearer realm=\"https://x/token\",error=\"invalid_token\",error_description=\"a \\\"quoted\\\" thing\"",
        ], text =>
        {
            var space = text.IndexOf(' ', StringComparison.Ordinal);
            _ = AuthChallenge.ParseParameters(space < 0 ? text : text[(space + 1)..]);
            using var response = new HttpResponseMessage(System.Net.HttpStatusCode.Unauthorized);
            response.Headers.TryAddWithoutValidation("WWW-Authenticate", text);
            foreach (var challenge in AuthChallenge.From(response))
                _ = (challenge["realm"], challenge.ToString());
        }, _ => false);
    }

    [Test]
    public void Registry_manifests_indexes_and_error_bodies()
    {
        var layer = """{"mediaType":"OCILAYERGZIP","digest":"sha256:HEX","size":32}""".Replace("OCILAYERGZIP", MediaTypes.OciLayerGzip, StringComparison.Ordinal).Replace("HEX", Hex, StringComparison.Ordinal);
        SweepBytes(12, [
            Manifest("""{"schemaVersion":2,"mediaType":"OCIMANIFEST","config":{"mediaType":"OCICONFIG","digest":"sha256:HEX","size":7},"layers":[LAYER,LAYER]}"""),
            Manifest("""{"schemaVersion":2,"mediaType":"OCIINDEX","manifests":[{"mediaType":"OCIMANIFEST","digest":"sha256:HEX","size":9,"platform":{"os":"linux","architecture":"amd64"}},{"mediaType":"OCIMANIFEST","digest":"sha256:HEX","size":9,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}"""),
            """{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}},{"code":"DENIED"}]}"""u8.ToArray(),
        ], bytes =>
        {
            _ = ResponseErrors.DecodeRegistryErrors(Encoding.UTF8.GetString(bytes));
            var platform = PlatformSpec.Parse("linux/arm64");
            var manifest = RegistryClient.ParseManifest(bytes, Digests.Of(bytes), null, "registry.example.org", "a/b", "1.0");
            if (MediaTypes.IsIndex(manifest.MediaType))
            {
                var (child, chosen) = RegistryClient.PickPlatform(platform, "registry.example.org", "a/b", "1.0", manifest);
                Require(Digests.IsDigest(child.Digest) && chosen.Length > 0, "a bad child");
            }
            else
            {
                var image = RegistryClient.ToImage("registry.example.org", "a/b", "1.0", manifest, null, null);
                Require(image.Layers.All(l => Digests.IsDigest(l.Digest) && l.Size >= 0), "a bad layer");
                foreach (var l in image.Layers)
                    _ = MediaTypes.CompressionOf(l.MediaType);
            }
        }, ex => ex is SourceException);

        byte[] Manifest(string json) => Encoding.UTF8.GetBytes(json.Replace("LAYER", layer, StringComparison.Ordinal).Replace("HEX", Hex, StringComparison.Ordinal)
            .Replace("OCIMANIFEST", MediaTypes.OciManifest, StringComparison.Ordinal).Replace("OCIINDEX", MediaTypes.OciIndex, StringComparison.Ordinal)
            .Replace("OCICONFIG", MediaTypes.OciConfig, StringComparison.Ordinal));
    }

    [Test]
    public void Configuration_files()
    {
        var path = Path.Combine(_dir, "placement.json");
        SweepBytes(13, [
            File.ReadAllBytes(Path.Combine(Repo.Root, "deploy", "placement.example.json")),
            """{"Catalog":{"ubuntu":{"Ref":"docker://ubuntu:22.04","Pinned":true}},"Registries":{"Mirrors":[{"Registry":"docker.io","Locations":["harbor.example/hub"]}],"Insecure":["r:5000"]},"Prefetch":{"QuietHours":["08:00-18:00"],"AgentUrls":{"n1":"http://127.0.0.1:9461/"}}}"""u8.ToArray(),
        ], bytes =>
        {
            File.WriteAllBytes(path, bytes);
            _ = PlacementConfiguration.Load(path);
        }, ex => ex is ConfigurationErrorsException, mutations: 300);
    }

    [Test]
    public void Configuration_keys_with_odd_values()
    {
        // Every key of the example file, and list and map entries, set one at a time to values of the wrong kind.
        var keys = new ConfigurationBuilder().AddJsonFile(Path.Combine(Repo.Root, "deploy", "placement.example.json")).Build()
            .AsEnumerable().Where(p => p.Value is not null).Select(p => p.Key)
            .Concat(["Registries:Insecure:0", "Registries:Mirrors:0:Registry", "Registries:Mirrors:0:Locations:0", "Registries:Mirrors:0:Fallback",
                "Prefetch:QuietHours:0", "Prefetch:AgentUrls:n1", "Catalog:ubuntu:Ref", "Catalog:ubuntu:Pinned", "Catalog:ubuntu", "Cache:Extra"])
            .ToList();
        string[] odd = ["", " ", "-1", "0", "1e400", "NaN", "-9223372036854775809", "99999999999999999999", "2147483648", "true", "0x10",
            "\0", "\n", "%", "%n", "100%", "0%", "1.5", "ünï", "a\"b", new string('9', 400), new string('a', 5000), "[]", "{}",
            "http://", "{node}", "*:0", "99:99-00:00", "docker://", "/", "C:\\x"];
        var failures = new List<string>();
        foreach (var key in keys)
        {
            foreach (var value in odd)
            {
                var configuration = new ConfigurationBuilder().AddInMemoryCollection([new(key, value)]).Build();
                var watch = Stopwatch.StartNew();
                try
                {
                    _ = PlacementConfiguration.Bind(configuration, "fuzz");
                }
                catch (ConfigurationErrorsException ex) when (ex.Message.Length > 0)
                {
                }
                catch (Exception ex)
                {
                    failures.Add($"{key}={Show(value.ToCharArray())}: {ex.GetType().Name}: {ex.Message}");
                }
                if (watch.Elapsed > Slow)
                    failures.Add($"{key}={Show(value.ToCharArray())}: took {watch.ElapsedMilliseconds} ms");
            }
        }
        Assert.That(failures, Is.Empty);
    }

    [Test]
    public void Cache_records_read_from_damaged_files()
    {
        var now = new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
        var digest = "sha256:" + Hex;
        var meta = JsonSerializer.SerializeToUtf8Bytes(new ImageMeta
        {
            Digest = digest, Format = "sqsh", Artifact = "image.sqsh", ArtifactDigest = digest, Size = 1, Created = now, SourceRef = "docker://a/b:1", Blobs = [digest],
        }, CacheJsonContext.Default.ImageMeta);
        var record = JsonSerializer.SerializeToUtf8Bytes(new RefRecord { Id = "img_ubuntu", Ref = "docker://a/b:1", Digest = digest, ResolvedAt = now, LastUsed = now, SourceStamp = "x" },
            CacheJsonContext.Default.RefRecord);
        var lease = JsonSerializer.SerializeToUtf8Bytes(new LeaseRecord { Holder = "slurm-1.0", Digest = digest, Created = now, Expires = now }, CacheJsonContext.Default.LeaseRecord);
        var inventory = JsonSerializer.SerializeToUtf8Bytes(new Inventory
        {
            Node = "n1", Updated = now, CacheBytes = 1, FreeBytes = 2, FilesystemBytes = 3, HighWatermarkBytes = 2,
            Images = [new InventoryImage { Id = "img_ubuntu", Ref = "docker://a/b:1", Digest = digest, Size = 1, Path = "/c/x.sqsh", LastUsed = now, Pinned = true, Leased = true }],
        }, CacheJsonContext.Default.Inventory);
        var progress = JsonSerializer.SerializeToUtf8Bytes(new ProgressRecord { Pid = 1, Ref = "docker://a/b:1", Phase = "pull", BytesDone = 1, BytesTotal = 2, Updated = now },
            CacheJsonContext.Default.ProgressRecord);
        SweepBytes(14, [meta, record, lease, inventory, progress], bytes =>
        {
            // What the cache's readers do: deserialize; a JsonException means a damaged record, treated as absent.
            Read(() => RequireNoNulls(JsonSerializer.Deserialize(bytes, CacheJsonContext.Default.ImageMeta)));
            Read(() => RequireNoNulls(JsonSerializer.Deserialize(bytes, CacheJsonContext.Default.RefRecord)));
            Read(() => RequireNoNulls(JsonSerializer.Deserialize(bytes, CacheJsonContext.Default.LeaseRecord)));
            Read(() => RequireNoNulls(JsonSerializer.Deserialize(bytes, CacheJsonContext.Default.Inventory)));
            Read(() => RequireNoNulls(JsonSerializer.Deserialize(bytes, CacheJsonContext.Default.ProgressRecord)));
        }, _ => false, mutations: 1000);

        static void Read(Action read)
        {
            try
            {
                read();
            }
            catch (JsonException ex) when (ex.Message.Length > 0)
            {
            }
        }
    }

    private static void CheckTrace(JobTrace trace)
    {
        foreach (var job in trace.Jobs)
        {
            Require(job.Image >= 0 && job.Image < trace.Images.Count, $"job {job.Id} has image index {job.Image} of {trace.Images.Count}");
            Require(double.IsFinite(job.Submit) && job.Submit >= 0, $"job {job.Id} submitted at {job.Submit}");
            Require(double.IsFinite(job.Runtime) && job.Runtime >= 0, $"job {job.Id} runs {job.Runtime}");
            Require(job.Cores >= 1, $"job {job.Id} has {job.Cores} cores");
        }
        Require(trace.Images.All(i => i.Size > 0), "an image of size 0");
    }

    // ---- the sweep ----

    private static string Fixture(string name) => File.ReadAllText(Path.Combine(Repo.Root, "tests", "Placement.Tests", "GridEngine", "Fixtures", name));

    /// <summary>A broken invariant of a successful parse: a bug like a crash.</summary>
    private sealed class InvariantException(string message) : Exception(message);

    private static void Require(bool condition, string what)
    {
        if (!condition)
            throw new InvariantException(what);
    }

    /// <summary>Runs a parse that may refuse its input with the documented exception; null then.</summary>
    private static T? Attempt<T>(Func<T> parse) where T : class
    {
        try
        {
            return parse();
        }
        catch (PlacementException ex) when (ex.Message.Length > 0)
        {
            return null;
        }
    }

    /// <summary>No null where the record's declared types (element types included) have none.</summary>
    private static void RequireNoNulls(object? value)
    {
        if (value is null)
            return;
        var context = new NullabilityInfoContext();
        foreach (var property in value.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var info = context.Create(property);
            var content = property.GetValue(value);
            Require(content is not null || info.ReadState != NullabilityState.NotNull, $"{value.GetType().Name}.{property.Name} is null");
            if (content is System.Collections.IEnumerable items and not string)
            {
                var element = info.ElementType ?? info.GenericTypeArguments.FirstOrDefault();
                foreach (var item in items)
                {
                    Require(item is not null || element?.ReadState != NullabilityState.NotNull, $"{value.GetType().Name}.{property.Name} holds a null");
                    if (item is not null && item.GetType().Namespace == typeof(Inventory).Namespace)
                        RequireNoNulls(item);
                }
            }
        }
    }

    private static void SweepText(int seed, string[] seeds, Action<string> parse, Func<Exception, bool> expected, int mutations = Mutations)
    {
        var mutator = new Mutator(seed);
        var inputs = mutator.Inputs(seeds.Select(Encoding.UTF8.GetBytes).ToList(), mutations).Select(b => mutator.Text(b).ToCharArray());
        Sweep(inputs, chars => parse(new string(chars)), expected);
    }

    private static void SweepBytes(int seed, byte[][] seeds, Action<byte[]> parse, Func<Exception, bool> expected, int mutations = Mutations) =>
        Sweep(new Mutator(seed).Inputs(seeds, mutations), parse, expected);

    /// <summary>
    /// Feeds every input to <paramref name="parse"/>; collects unexpected exceptions (one per type and throwing method,
    /// shrunk to a minimal input) and parses slower than <see cref="Slow"/>, and fails with them.
    /// </summary>
    private static void Sweep<T>(IEnumerable<T[]> inputs, Action<T[]> parse, Func<Exception, bool> expected)
    {
        var failures = new Dictionary<string, (T[] Input, Exception Error)>(StringComparer.Ordinal);
        T[]? current = null;
        var count = 0;
        var run = Task.Run(() =>
        {
            foreach (var input in inputs)
            {
                current = input;
                count++;
                var watch = Stopwatch.StartNew();
                var error = Outcome(parse, input, expected);
                if (error is null && watch.Elapsed > Slow)
                    error = new TimeoutException($"took {watch.ElapsedMilliseconds} ms");
                if (error is null)
                    continue;
                var key = Key(error);
                if (!failures.TryGetValue(key, out var known) || input.Length < known.Input.Length)
                    failures[key] = (input, error);
            }
        });
        if (!run.Wait(TimeSpan.FromSeconds(60)))
            Assert.Fail($"the parser hangs (still running after 60 s) on input #{count}: {Show(current!)}");
        run.GetAwaiter().GetResult();

        var report = failures.Select(f =>
        {
            var (input, error) = f.Value;
            if (error is not TimeoutException)
                (input, error) = Shrink(input, error, parse, expected);
            return $"{error.GetType().Name}: {error.Message}\n  input ({input.Length}): {Show(input)}\n  at {TopFrames(error)}";
        }).ToList();
        TestContext.Out.WriteLine($"{count} inputs, {failures.Count} distinct failure(s)");
        Assert.That(report, Is.Empty, "inputs that crash the parser (type, message, minimal input, where)");
    }

    private static Exception? Outcome<T>(Action<T[]> parse, T[] input, Func<Exception, bool> expected)
    {
        try
        {
            parse(input);
            return null;
        }
        catch (Exception ex) when (expected(ex))
        {
            return ex.Message.Length > 0 ? null : new InvariantException($"{ex.GetType().Name} with an empty message");
        }
        catch (Exception ex)
        {
            return ex;
        }
    }

    private static string Key(Exception error) =>
        error.GetType().Name + " " + (error is InvariantException ? error.Message : new StackTrace(error).GetFrame(0)?.GetMethod()?.Name);

    /// <summary>Removes ever smaller chunks while the input still fails the same way.</summary>
    private static (T[], Exception) Shrink<T>(T[] input, Exception error, Action<T[]> parse, Func<Exception, bool> expected)
    {
        var key = Key(error);
        var tries = 0;
        for (var chunk = Math.Max(1, input.Length / 2); chunk >= 1; chunk /= 2)
        {
            for (var at = 0; at + chunk <= input.Length && tries < 4000; tries++)
            {
                T[] smaller = [.. input[..at], .. input[(at + chunk)..]];
                if (Outcome(parse, smaller, expected) is { } e && Key(e) == key)
                    (input, error) = (smaller, e);
                else
                    at += chunk;
            }
            if (chunk == 1)
                break;
        }
        return (input, error);
    }

    private static string TopFrames(Exception error) =>
        string.Join(" < ", new StackTrace(error).GetFrames().Take(4).Select(f => f.GetMethod() is { } m ? $"{m.DeclaringType?.Name}.{m.Name}" : "?"));

    /// <summary>The input as a C# string literal (bytes that are not UTF-8 as \x escapes in a byte list).</summary>
    private static string Show<T>(T[] input)
    {
        string text;
        if (input is byte[] bytes)
        {
            try
            {
                text = new UTF8Encoding(false, true).GetString(bytes);
            }
            catch (DecoderFallbackException)
            {
                return "bytes [" + string.Join(",", bytes.Take(300).Select(b => $"0x{b:x2}")) + (bytes.Length > 300 ? ",…" : "") + "]";
            }
        }
        else
            text = new string((char[])(object)input);
        var builder = new StringBuilder("\"");
        foreach (var c in text.Length > 400 ? text[..400] : text)
        {
            builder.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\t' => "\\t",
                '\r' => "\\r",
                _ when c < ' ' || c > '~' => $"\\u{(int)c:x4}",
                _ => c.ToString(),
            });
        }
        return builder.Append(text.Length > 400 ? "…\"" : "\"").ToString();
    }
}
