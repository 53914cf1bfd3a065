using System.Globalization;

namespace Belay.Bench;

/// <summary>One executable of one RID: on disk, gzip -9 and xz -9.</summary>
internal sealed record SizeRow(string Rid, string Build, string File, long OnDisk, long Gzip, long Xz);

/// <summary>The agent archive belay-release package makes for a RID (what a feed serves and hosts download).</summary>
internal sealed record ArchiveRow(string Rid, string File, long Bytes, string ClassicFile, long ClassicBytes);

internal sealed record SizeResult(IReadOnlyList<SizeRow> Rows, IReadOnlyList<ArchiveRow> Archives, IReadOnlyList<string> Skipped);

/// <summary>
/// Size of belay and belay-agent for every RID under artifacts/publish/ (the host's always;
/// the others when ./build.sh publish-rids left them; --quick measures the host's only), and
/// the agent archive that belay-release package makes from each, against the budgets below.
/// </summary>
internal static class SizeBench
{
    /// <summary>The agent archive a host downloads on every update (issue 8).</summary>
    public const long ArchiveBudget = 4_000_000;

    /// <summary>Each executable on disk: belay is what install.sh downloads uncompressed, belay-agent what every version folder holds.</summary>
    public const long OnDiskBudget = 10_000_000;

    /// <summary>gzip -9 of each executable: what a compressed transfer or package carries.</summary>
    public const long GzipBudget = 4_000_000;

    /// <summary>xz -9 of each executable: the best a .deb/.rpm-style package would do.</summary>
    public const long XzBudget = 3_000_000;

    public static SizeResult Run(BenchContext ctx)
    {
        var publishRoot = Path.GetDirectoryName(ctx.Options.BinDir)!;
        var rows = new List<SizeRow>();
        var archives = new List<ArchiveRow>();
        var skipped = new List<string>();
        var dir = ctx.Dir("size");
        var rids = Directory.EnumerateDirectories(publishRoot).Select(Path.GetFileName).OfType<string>()
            .OrderBy(r => r == ctx.Rid ? 0 : 1).ThenBy(r => r, StringComparer.Ordinal).ToList();
        var jobs = new List<(string Rid, string Build, string File)>();
        foreach (var rid in rids)
        {
            if (ctx.Options.Quick && rid != ctx.Rid)
            {
                skipped.Add(rid);
                continue;
            }
            var exe = rid.StartsWith("win-", StringComparison.Ordinal) ? ".exe" : "";
            var build = rid.StartsWith("linux-", StringComparison.Ordinal) ? "NativeAOT" : "single file, trimmed (not NativeAOT)";
            foreach (var name in (string[])["belay", "belay-agent"])
            {
                var file = Path.Combine(publishRoot, rid, name + exe);
                if (File.Exists(file))
                {
                    jobs.Add((rid, build, file));
                }
            }
        }
        BenchContext.Say($"size: gzip -9 and xz -9 of {jobs.Count} executables ({string.Join(", ", jobs.Select(j => j.Rid).Distinct())}), {Environment.ProcessorCount} at a time");
        // xz -9 is single-threaded and slow (seconds per file): one file per core, at the lowest priority.
        var measured = new SizeRow[jobs.Count];
        Parallel.For(0, jobs.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            var (rid, build, file) = jobs[i];
            measured[i] = new SizeRow(rid, build, Path.GetFileName(file), new FileInfo(file).Length, Compressed("gzip -9 -c", file), Compressed("xz -9 -T1 -c", file));
        });
        rows.AddRange(measured);
        foreach (var (rid, _, file) in jobs.Where(j => Path.GetFileNameWithoutExtension(j.File) == "belay-agent"))
        {
            archives.Add(Package(ctx, rid, file, Path.Combine(dir, rid)));
        }
        return new SizeResult(rows, archives, skipped);
    }

    private static long Compressed(string tool, string file)
    {
        // nice 19: it runs beside the latency benchmark, which must keep its CPU (benchmarks/README.md).
        var r = Shell.Check("nice", ["-n", "19", "sh", "-c", $"{tool} '{file}' | wc -c"], timeout: TimeSpan.FromMinutes(10));
        return long.Parse(r.StdOut.Trim(), CultureInfo.InvariantCulture);
    }

    private static ArchiveRow Package(BenchContext ctx, string rid, string agent, string dir)
    {
        var input = Path.Combine(dir, "input");
        Directory.CreateDirectory(input);
        File.Copy(agent, Path.Combine(input, Path.GetFileName(agent)), overwrite: true);
        var output = Path.Combine(dir, "out");
        Shell.Check(ctx.Release, ["package", "--rid", rid, "--version", ctx.BuiltVersion, "--input", input, "--out", output],
            new Dictionary<string, string> { ["SOURCE_DATE_EPOCH"] = "946684800" });
        // What a host downloads: the compact form when belay-release package made one (docs/feed.md), else the archive.
        var files = Directory.EnumerateFiles(output).Where(f => !f.EndsWith(".minisig", StringComparison.Ordinal)).ToList();
        var archive = files.FirstOrDefault(f => f.EndsWith(".br", StringComparison.Ordinal)) ?? files.First();
        var classic = files.FirstOrDefault(f => f.EndsWith(".tar.gz", StringComparison.Ordinal) || f.EndsWith(".zip", StringComparison.Ordinal)) ?? archive;
        return new ArchiveRow(rid, Path.GetFileName(archive), new FileInfo(archive).Length, Path.GetFileName(classic), new FileInfo(classic).Length);
    }
}
