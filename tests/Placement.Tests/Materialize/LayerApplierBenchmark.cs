using System.Diagnostics;
using NUnit.Framework;
using Placement.Core.Materialize;

namespace Placement.Tests.Materialize;

/// <summary>
/// Manual benchmark: <c>PLACEMENT_BENCH_LAYERS=blob1:blob2 PLACEMENT_BENCH_ROOT=/tmp/x dotnet test --filter Name=Apply_benchmark_layers</c>.
/// Compare with <c>umoci unpack</c> of the same image.
/// </summary>
[TestFixture]
[Explicit("benchmark: needs PLACEMENT_BENCH_LAYERS")]
public sealed class LayerApplierBenchmark
{
    [Test]
    public async Task Apply_benchmark_layers()
    {
        var layers = Environment.GetEnvironmentVariable("PLACEMENT_BENCH_LAYERS");
        var root = Environment.GetEnvironmentVariable("PLACEMENT_BENCH_ROOT");
        if (string.IsNullOrEmpty(layers) || string.IsNullOrEmpty(root))
            Assert.Ignore("set PLACEMENT_BENCH_LAYERS and PLACEMENT_BENCH_ROOT");
        var files = layers!.Split(':').Select(p => new LayerFile(p, Path.GetFileName(p), null)).ToList();
        var clock = Stopwatch.StartNew();
        var result = await new LayerApplier(new LayerApplyOptions { ParallelDecompression = Environment.GetEnvironmentVariable("PLACEMENT_BENCH_SERIAL") is null }).ApplyAsync(root!, files);
        TestContext.Out.WriteLine($"applied {result.Entries} entries, {result.BytesWritten / 1e6:0} MB in {clock.Elapsed.TotalSeconds:0.00} s");
    }
}
