// The Belay benchmark driver (benchmarks/bench.sh, ./build.sh bench [--quick]):
//
//   1. footprint  Belay, supervisord and a curl loop side by side (memory each second, CPU per poll)
//   2. size       belay and belay-agent per RID: on disk, gzip -9, xz -9, the agent archive
//   3. latency    one-liner to ready vs curl|tar; publish to all agents; bad release to rollback
//   4. fleet      N simulated agents against nginx; a release at 100% and at 10%; 1M-host arithmetic
//   5. hub        the agent's memory with the hub connection open (side by side without), the hub's memory per
//                 connected agent for 1,000 simulated agents, write-to-reader latency of a live log over 1,000 lines
//   6. hubscale   10,000 simulated agents on two hub nodes sharing one PostgreSQL (memory, idle CPU, poke latency
//                 from either node), 100 live tails through the other node, a node SIGKILLed (the reconnect
//                 storm), and the same 10,000 on one node with SQLite; the 1M-host arithmetic
//
// Size (at nice 19) and latency run while the footprint window is open (--sequential: one after
// another); the fleet runs alone. Everything runs in a temporary folder that is removed at the end
// (BELAY_BENCH_KEEP=1 keeps it). The report goes to benchmarks/results/DATE[-quick].md with its
// SVG plot. A missed target is reported, never a failure: the exit code is 0 unless the bench
// could not run at all.

using System.Diagnostics;
using System.Text;
using Belay.Bench;

var options = BenchOptions.Parse(args);
var started = DateTime.UtcNow;
var watch = Stopwatch.StartNew();
var work = Directory.CreateTempSubdirectory("belay-bench-").FullName;
var failures = new List<string>();
BenchContext.Say($"{(options.Quick ? "quick" : options.Long ? "long" : "full")} run ({string.Join(", ", options.Phases)}); binaries from {options.BinDir}; work folder {work}");
try
{
    var machine = MachineInfo.Read(options.RepoRoot);
    var ctx = new BenchContext(options, work);

    var phases = new System.Collections.Concurrent.ConcurrentDictionary<string, double>();
    T? Guard<T>(string name, Func<T> run) where T : class
    {
        if (!options.Phases.Contains(name))
        {
            return null;
        }
        var phase = Stopwatch.StartNew();
        try
        {
            return run();
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException or FormatException or AggregateException)
        {
            BenchContext.Say($"{name} FAILED: {e.Message}");
            lock (failures)
            {
                failures.Add($"{name}: {e.Message.Split('\n')[0]}");
            }
            return null;
        }
        finally
        {
            phases[name] = phase.Elapsed.TotalSeconds;
        }
    }

    Task<T?> Background<T>(string name, Func<T> run) where T : class =>
        Task.Factory.StartNew(() => Guard(name, run), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    var footprintTask = Background("footprint", () => FootprintBench.Run(ctx));
    if (!options.Overlap)
    {
        footprintTask.Wait();
    }
    var sizeTask = Background("size", () => SizeBench.Run(ctx));
    if (!options.Overlap)
    {
        sizeTask.Wait();
    }
    var latency = Guard("latency", () => LatencyBench.Run(ctx));
    if (!footprintTask.IsCompleted || !sizeTask.IsCompleted)
    {
        BenchContext.Say("waiting for the footprint window to close and the size benchmark to finish");
    }
    var size = await sizeTask;
    var footprint = await footprintTask;
    var fleet = Guard("fleet", () => FleetBench.Run(ctx));
    var hub = Guard("hub", () => HubBench.Run(ctx));
    var hubScale = Guard("hubscale", () => HubScaleBench.Run(ctx));

    foreach (var error in new[] { footprint?.Error, latency?.Error, fleet?.Error, hub?.Error, hubScale?.Error }.OfType<string>())
    {
        failures.Add(error.Split('\n')[0]);
    }
    var results = new BenchResults(options, machine, ctx.BuiltVersion, started, watch.Elapsed, footprint, size, latency, fleet, hub, hubScale, failures,
        new Dictionary<string, double>(phases));
    Directory.CreateDirectory(options.OutDir);
    var stem = $"{started:yyyy-MM-dd}{(options.Quick ? "-quick" : options.Long ? "-long" : "")}{(options.Phases.Count < BenchOptions.AllPhases.Count ? "-" + string.Join("-", options.Phases.Order(StringComparer.Ordinal)) : "")}";
    var svgName = stem + "-memory.svg";
    var (markdown, svg, headline) = Report.Render(results, svgName);
    var reportPath = Path.Combine(options.OutDir, stem + ".md");
    File.WriteAllText(reportPath, markdown);
    File.WriteAllText(Path.Combine(options.OutDir, svgName), svg);
    if (hubScale is not null)
    {
        File.WriteAllText(Path.Combine(options.OutDir, stem + "-hubscale.svg"), HubScaleReport.Plot(hubScale));
    }

    var summary = new StringBuilder();
    Report.Table(summary, ["", "Belay", "side by side", "target", ""], headline);
    Console.WriteLine();
    Console.WriteLine(summary.ToString());
    Console.WriteLine($"report: {reportPath}");
    Console.WriteLine($"plot:   {Path.Combine(options.OutDir, svgName)}");
    Console.WriteLine($"bench took {watch.Elapsed.TotalMinutes:F1} min{(failures.Count > 0 ? $"; parts that did not complete: {string.Join("; ", failures)}" : "")}");
    return 0;
}
catch (InvalidOperationException e)
{
    Console.Error.WriteLine($"bench: {e.Message}");
    return 1;
}
finally
{
    if (Environment.GetEnvironmentVariable("BELAY_BENCH_KEEP") == "1")
    {
        Console.WriteLine($"kept the work folder {work}");
    }
    else
    {
        try
        {
            Directory.Delete(work, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
