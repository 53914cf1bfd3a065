using System.Diagnostics;
using System.Text.Json;

namespace Belay.Bench;

/// <summary>One second's memory of a process tree, summed over its processes.</summary>
internal sealed record MemorySample(double Seconds, double RssMb, double PssMb, double PrivateMb, int Processes);

/// <summary>One thing measured side by side: its process tree's memory over the window, its CPU time and polls.</summary>
internal sealed class Subject(string name, string what)
{
    public string Name { get; } = name;
    public string What { get; } = what;
    public int RootPid { get; set; }
    public List<MemorySample> Samples { get; } = [];
    public Dictionary<string, List<double>> PssByProcess { get; } = [];
    /// <summary>PSS over the window by process name: (seconds into the window, MB), for the plot.</summary>
    public Dictionary<string, List<(double Seconds, double Mb)>> PssSeries { get; } = [];
    /// <summary>Where each process's PSS goes (<see cref="Smaps"/>), sampled every few seconds: (seconds, kB per category).</summary>
    public Dictionary<string, List<(double Seconds, Dictionary<string, long> Kb)>> Breakdown { get; } = [];
    public long CpuTicks { get; set; }
    /// <summary>CPU seconds over the window by process name: its own, and its children's that exited and were waited for.</summary>
    public Dictionary<string, (double Own, double Children)> CpuByProcess { get; } = [];
    public int Polls { get; set; }
    /// <summary>Distinct TCP (TLS) connections its polls came on: as many as polls means a handshake per poll.</summary>
    public int Connections { get; set; }
    public bool Polling { get; init; } = true;

    public double CpuSeconds => CpuTicks / ProcFs.TicksPerSecond;
}

internal sealed record FootprintResult(IReadOnlyList<Subject> Subjects, double WindowSeconds, string FeedUrl, string Program, string? Error);

/// <summary>
/// Footprint, side by side in one window: Belay (keeper + agent, installed from an HTTPS feed on
/// loopback with the product's default 10 s poll, supervising one program and one deployed app,
/// whose group document it polls too), Debian's
/// supervisord supervising the same program, and a shell loop polling the same URL with curl
/// every 10 s. Each second, each tree's RSS, PSS and private memory (smaps_rollup, summed over
/// the tree); over the window, each tree's CPU time (utime + stime, children included) and, from
/// nginx's access log, its polls.
/// </summary>
internal static class FootprintBench
{
    public const string ProgramCommand = "sleep infinity";

    public static FootprintResult Run(BenchContext ctx)
    {
        var o = ctx.Options;
        var dir = ctx.Dir("footprint");
        var feed = new BenchFeed(ctx, dir);
        feed.Publish(ctx.BuiltVersion, ctx.AgentBytes, withBootstrap: true);
        using var nginx = Nginx.Start(Path.Combine(dir, "nginx"), feed.Dir, ctx.Tls);
        var url = nginx.BaseUrl;
        var manifestUrl = url + "channels/stable.json";

        var belay = new BelayHost(ctx, Path.Combine(dir, "belay"));
        Process? supervisord = null;
        Process? loop = null;
        var belaySubject = new Subject("Belay", "keeper + agent + program + deployed app (belay run, which execs belay-keeper; belay-agent run; sleep; the app's sleep)");
        var supSubject = new Subject("supervisord", "Debian's supervisord + program (python3, sleep)") { Polling = false };
        var curlSubject = new Subject("curl loop", "sh loop: curl the manifest, sleep 10 (sh, curl, sleep)");
        try
        {
            // Belay: programs.conf first, so the agent starts the program as it comes up.
            Directory.CreateDirectory(Path.Combine(belay.Prefix, "etc"));
            var conf = Path.Combine(belay.Prefix, "etc", "programs.conf");
            File.WriteAllText(conf, $"[program:sleeper]\ncommand = {ProgramCommand}\n");
            File.SetUnixFileMode(conf, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var install = belay.Install(url);
            if (!install.Ok)
            {
                throw new InvalidOperationException($"belay install failed: {install}");
            }
            if (!belay.WaitFor(s => ProgramRunning(s, "sleeper"), TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(500)))
            {
                throw new InvalidOperationException("the agent did not report the program running within 30 s");
            }
            // And one deployed app (group default), so that the figures include what deployments cost at rest.
            feed.DeployApp("1.0.0");
            if (!belay.WaitFor(s => BelayHost.AppOn(s, "1.0.0"), TimeSpan.FromSeconds(90), TimeSpan.FromMilliseconds(500)))
            {
                throw new InvalidOperationException("the agent did not report the deployed app converged within 90 s");
            }
            belaySubject.RootPid = belay.KeeperPid() ?? throw new InvalidOperationException("belay status has no keeper pid");

            supervisord = StartSupervisord(Path.Combine(dir, "supervisord"));
            supSubject.RootPid = supervisord.Id;

            loop = Shell.Start("sh", ["-c", $"while :; do curl -s -o /dev/null --cacert '{ctx.Tls.CaCert}' '{manifestUrl}'; sleep {o.PollInterval.TotalSeconds:0}; done"],
                Path.Combine(dir, "curl-loop.log"));
            curlSubject.RootPid = loop.Id;

            BenchContext.Say($"footprint: Belay, supervisord and the curl loop are up; warming up {o.FootprintWarmup.TotalSeconds:0} s, then measuring {o.FootprintWindow.TotalSeconds:0} s");
            Thread.Sleep(o.FootprintWarmup);

            Subject[] subjects = [belaySubject, supSubject, curlSubject];
            var start = Nginx.Now();
            var parentsAtStart = ProcFs.ParentMap();
            var cpuStart = subjects.Select(s => CpuSnapshot(s.RootPid, parentsAtStart)).ToArray();
            var watch = Stopwatch.StartNew();
            var next = TimeSpan.Zero;
            var nextBreakdown = TimeSpan.Zero;
            while (watch.Elapsed < o.FootprintWindow)
            {
                var parents = ProcFs.ParentMap();
                var breakdown = watch.Elapsed >= nextBreakdown;
                if (breakdown)
                {
                    nextBreakdown += o.BreakdownEvery;
                }
                foreach (var s in subjects)
                {
                    Sample(s, parents, watch.Elapsed.TotalSeconds, breakdown);
                }
                next += TimeSpan.FromSeconds(1);
                var wait = next - watch.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    Thread.Sleep(wait);
                }
            }
            var parentsAtEnd = ProcFs.ParentMap();
            for (var i = 0; i < subjects.Length; i++)
            {
                var atEnd = CpuSnapshot(subjects[i].RootPid, parentsAtEnd);
                subjects[i].CpuTicks = atEnd.Values.Sum(v => v.Cpu.Total) - cpuStart[i].Values.Sum(v => v.Cpu.Total);
                foreach (var (pid, (comm, cpu)) in atEnd)
                {
                    var before = cpuStart[i].TryGetValue(pid, out var b) ? b.Cpu : default;
                    var (own, children) = subjects[i].CpuByProcess.GetValueOrDefault(comm);
                    subjects[i].CpuByProcess[comm] = (own + ((cpu.Own - before.Own) / ProcFs.TicksPerSecond),
                        children + ((cpu.Children - before.Children) / ProcFs.TicksPerSecond));
                }
            }
            var end = Nginx.Now();
            var window = watch.Elapsed.TotalSeconds;

            Thread.Sleep(1500); // let nginx write the last lines
            var polls = nginx.ReadLog().Where(l => l.Time >= start && l.Time <= end && l.Path == "/channels/stable.json").ToList();
            var belayPolls = polls.Where(l => l.UserAgent == "belay").ToList();
            var curlPolls = polls.Where(l => l.UserAgent.StartsWith("curl/", StringComparison.Ordinal)).ToList();
            belaySubject.Polls = belayPolls.Count;
            belaySubject.Connections = belayPolls.Select(l => l.Connection).Distinct().Count();
            curlSubject.Polls = curlPolls.Count;
            curlSubject.Connections = curlPolls.Select(l => l.Connection).Distinct().Count();
            return new FootprintResult(subjects, window, url, ProgramCommand, null);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException)
        {
            BenchContext.Say($"footprint FAILED: {e.Message}");
            return new FootprintResult([belaySubject, supSubject, curlSubject], 0, url, ProgramCommand, e.Message);
        }
        finally
        {
            belay.Uninstall();
            if (supervisord is not null)
            {
                Shell.Stop(supervisord, TimeSpan.FromSeconds(15));
            }
            if (loop is not null)
            {
                loop.Kill(entireProcessTree: true);
                loop.WaitForExit(5000);
            }
        }
    }

    private static void Sample(Subject s, Dictionary<int, int> parents, double seconds, bool breakdown)
    {
        double rss = 0, pss = 0, priv = 0;
        var count = 0;
        foreach (var pid in ProcFs.Tree(s.RootPid, parents))
        {
            if (ProcFs.ReadRollup(pid) is not { } r)
            {
                continue;
            }
            count++;
            rss += r.RssKb;
            pss += r.PssKb;
            priv += r.PrivateKb;
            var name = ProcFs.Comm(pid);
            if (!s.PssByProcess.TryGetValue(name, out var list))
            {
                s.PssByProcess[name] = list = [];
            }
            list.Add(r.PssKb / 1024.0);
            if (!s.PssSeries.TryGetValue(name, out var series))
            {
                s.PssSeries[name] = series = [];
            }
            series.Add((seconds, r.PssKb / 1024.0));
            if (breakdown && Smaps.Read(pid) is { } kb)
            {
                if (!s.Breakdown.TryGetValue(name, out var samples))
                {
                    s.Breakdown[name] = samples = [];
                }
                samples.Add((seconds, kb));
            }
        }
        if (count > 0)
        {
            s.Samples.Add(new MemorySample(seconds, rss / 1024.0, pss / 1024.0, priv / 1024.0, count));
        }
    }

    private static Dictionary<int, (string Comm, CpuTicks Cpu)> CpuSnapshot(int root, Dictionary<int, int> parents) =>
        ProcFs.Tree(root, parents).Select(pid => (pid, cpu: ProcFs.ReadCpu(pid))).Where(x => x.cpu is not null)
            .ToDictionary(x => x.pid, x => (ProcFs.Comm(x.pid), x.cpu!.Value));

    private static Process StartSupervisord(string dir)
    {
        Directory.CreateDirectory(dir);
        var conf = Path.Combine(dir, "supervisord.conf");
        // Debian's /etc/supervisor/supervisord.conf, with its paths moved here and one program.
        File.WriteAllText(conf, $"""
            [unix_http_server]
            file={dir}/supervisor.sock
            chmod=0700

            [supervisord]
            nodaemon=true
            logfile={dir}/supervisord.log
            pidfile={dir}/supervisord.pid
            childlogdir={dir}

            [rpcinterface:supervisor]
            supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

            [supervisorctl]
            serverurl=unix://{dir}/supervisor.sock

            [program:sleeper]
            command={ProgramCommand}
            autorestart=true
            redirect_stderr=true
            stdout_logfile={dir}/sleeper.log

            """);
        var p = Shell.Start(Shell.Which("supervisord") ?? "/usr/bin/supervisord", ["-c", conf], Path.Combine(dir, "console.log"));
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(20))
        {
            if (p.HasExited)
            {
                throw new InvalidOperationException($"supervisord exited: {File.ReadAllText(Path.Combine(dir, "console.log"))}");
            }
            if (ProcFs.Tree(p.Id, ProcFs.ParentMap()).Count >= 2)
            {
                return p;
            }
            Thread.Sleep(200);
        }
        throw new InvalidOperationException("supervisord did not start its program within 20 s");
    }

    private static bool ProgramRunning(JsonElement status, string name) =>
        status.TryGetProperty("programs", out var list) && list.ValueKind == JsonValueKind.Array &&
        list.EnumerateArray().Any(p => p.TryGetProperty("name", out var n) && n.GetString() == name &&
            p.TryGetProperty("state", out var st) && st.GetString() is "running" or "starting");
}
