using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Install;

/// <summary>
/// The installation's disk fills up (a 64 MB tmpfs on the prefix, in a private mount namespace) while a
/// release comes out: the agent says so in one line and in lastCheck, keeps its programs, survives a
/// restart with no room even for agent.json, and takes the release by itself once there is room again,
/// without another publish (the manifest's ETag was not kept while the release could not be taken).
/// keeper.log never holds a line cut in the middle.
/// </summary>
public sealed partial class DiskFullTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private readonly InstalledHost _host = new();
    private PrivateMount? _disk;

    public void Dispose()
    {
        try
        {
            _disk?.Run(BelayBinaries.Belay, ["uninstall", "--prefix", _host.Prefix, "--scope", "user", "--purge"]);
        }
        finally
        {
            _host.Dispose();
            _disk?.Dispose();
        }
    }

    [Fact]
    public void AFullDiskIsReportedTheProgramsKeepRunningAndTheReleaseIsTakenOnceThereIsRoom()
    {
        _host.PublishAgent("1.0.0");
        _disk = PrivateMount.Tmpfs(_host.Prefix, 64);
        Write(Path.Combine(_host.Prefix, "etc", "programs.conf"), "[program:steady]\ncommand = sleep 1000\n");
        var install = Belay("install", "--feed", _host.FeedUrl, "--scope", "user", "--prefix", _host.Prefix, "--root-key", _host.Workspace.RootPub,
            "--service-manager", "none", "--poll-interval", InstalledHost.PollInterval, "--trial-deadline", "10s", "--wait", "60s");
        Assert.True(install.ExitCode == 0, install.ToString());
        var first = WaitFor(s => Pid(s, "steady") > 0, "steady running");
        var steady = Pid(first, "steady");
        var agent = first.GetProperty("agent").GetProperty("pid").GetInt32();

        // 1. Room for small files but not for the release: the download fails, and says why.
        _disk.Fill(leaveBytes: 256 * 1024);
        _host.PublishAgent("1.1.0");
        var full = WaitFor(s => LastError(s)?.Contains("is full", StringComparison.Ordinal) == true, "reporting the full disk");
        Assert.Equal("error", full.GetProperty("lastCheck").GetProperty("result").GetString());
        Assert.Contains(_host.Prefix, LastError(full), StringComparison.Ordinal);
        Assert.Equal(agent, full.GetProperty("agent").GetProperty("pid").GetInt32());
        Assert.Equal(steady, Pid(full, "steady"));
        Assert.Equal("1.0.0", full.GetProperty("version").GetString());

        // 2. No room at all, and the agent restarts (killed): it starts, keeps the program, and reports.
        _disk.Fill();
        Assert.Equal(0, ExternalTool.Run("kill", ["-KILL", agent.ToString(System.Globalization.CultureInfo.InvariantCulture)]).ExitCode);
        var restarted = WaitFor(s => s.GetProperty("agent").GetProperty("pid").ValueKind == JsonValueKind.Number
            && s.GetProperty("agent").GetProperty("pid").GetInt32() != agent && LastError(s)?.Contains("is full", StringComparison.Ordinal) == true,
            "a new agent reporting the full disk");
        var second = restarted.GetProperty("agent").GetProperty("pid").GetInt32();
        Thread.Sleep(3000);
        var still = Status();
        Assert.Equal(second, still.GetProperty("agent").GetProperty("pid").GetInt32()); // not a crash loop
        Assert.Equal(steady, Pid(still, "steady"));
        Assert.True(ExternalTool.IsRunning(steady));

        // 3. Room again: the release is taken without another publish.
        _disk.Free();
        WaitFor(s => InstalledHost.On(s, "1.1.0"), "on 1.1.0 once there is room");
        Assert.True(ExternalTool.IsRunning(steady), "the program did not survive");

        var log = Cat(Path.Combine(_host.Prefix, "log", "keeper.log"));
        var lines = log.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var cut = lines.Where(l => !LogLine().IsMatch(l)).ToList();
        Assert.True(cut.Count == 0, "lines of keeper.log cut or run together:\n" + string.Join("\n", cut) + "\n--- keeper.log:\n" + log);
        Assert.DoesNotContain("Unhandled", log, StringComparison.Ordinal);
        Assert.DoesNotContain("internal error", log, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d (keeper|agent) [^\d]")]
    private static partial Regex LogLine();

    private ToolResult Belay(params string[] args) => _disk!.Run(BelayBinaries.Belay, args, TimeSpan.FromMinutes(2));

    /// <summary>Writes a file inside the tmpfs (the host sees the folder under it, not the tmpfs): through a copy made in the namespace.</summary>
    private void Write(string path, string text)
    {
        var source = Path.Combine(_host.Workspace.Root, Path.GetFileName(path));
        File.WriteAllText(source, text);
        var copy = _disk!.Run("sh", ["-c", $"mkdir -p \"$(dirname '{path}')\" && cp '{source}' '{path}' && chmod 600 '{path}'"]);
        Assert.True(copy.ExitCode == 0, copy.ToString());
    }

    private string Cat(string path) => _disk!.Run("cat", [path]).StdOut;

    private JsonElement Status()
    {
        var result = Belay("status", "--prefix", _host.Prefix, "--scope", "user", "--json");
        using var doc = JsonDocument.Parse(result.StdOut.Length > 0 ? result.StdOut : "{}");
        return doc.RootElement.Clone();
    }

    private JsonElement WaitFor(Func<JsonElement, bool> done, string what)
    {
        var watch = Stopwatch.StartNew();
        JsonElement status = default;
        while (watch.Elapsed < Wait)
        {
            status = Status();
            try
            {
                if (status.ValueKind == JsonValueKind.Object && done(status))
                {
                    return status;
                }
            }
            catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException)
            {
            }
            Thread.Sleep(250);
        }
        Assert.Fail($"not {what} within {Wait.TotalSeconds:0} s. Last status:\n{status}\nKeeper log:\n{Cat(Path.Combine(_host.Prefix, "log", "keeper.log"))}");
        return status;
    }

    private static string? LastError(JsonElement status) =>
        status.GetProperty("lastCheck") is { ValueKind: JsonValueKind.Object } c && c.GetProperty("error").ValueKind == JsonValueKind.String ? c.GetProperty("error").GetString() : null;

    private static int Pid(JsonElement status, string name) =>
        status.GetProperty("programs").EnumerateArray().FirstOrDefault(p => p.GetProperty("name").GetString() == name) is { ValueKind: JsonValueKind.Object } p
        && p.GetProperty("pid").ValueKind == JsonValueKind.Number ? p.GetProperty("pid").GetInt32() : 0;
}
