using Belay.Core.Install;
using Belay.Core.Services;
using Belay.Core.Services.Windows;
using Belay.Core.Update;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Wine;

/// <summary>
/// The keeper as a Windows service under a real SCM: Wine's services.exe, in a private prefix,
/// running the win-x64 belay.exe (self-contained, trimmed, single file: ./build.sh publish-windows).
/// <para>
/// What Wine does not do like Windows, and so what this does not check: Wine's sc has no
/// <c>qc</c> or <c>qfailure</c> (the configuration is read from the registry with <c>reg query</c>
/// instead); Wine stores recovery actions but never acts on them (a keeper that dies is not
/// restarted); there is no boot here, so automatic and delayed-automatic start are only
/// recorded, not exercised. Those parts are checked through the fake SCM in
/// Belay.Core.Tests (WindowsServiceBackendTests).
/// </para>
/// </summary>
public sealed class WineServiceTests
{
    private const string Service = "Belay";
    private const string BinRoot = @"C:\Program Files\Belay";
    private const string DataRoot = @"C:\ProgramData\Belay";

    private static string WindowsBelay
    {
        get
        {
            var dir = Environment.GetEnvironmentVariable("BELAY_WIN_BIN_DIR") is { Length: > 0 } d
                ? d
                : Path.Combine(BelayBinaries.RepoRoot, "artifacts", "publish", "win-x64");
            var exe = Path.Combine(dir, "belay.exe");
            if (!File.Exists(exe))
            {
                Assert.Fail($"the win-x64 belay.exe is not in {dir}: run ./build.sh publish-windows (./build.sh test does it first)");
            }
            return exe;
        }
    }

    [Fact]
    public void The_keeper_runs_as_a_windows_service_reports_running_stops_cleanly_and_is_deleted()
    {
        PrefixOrSkip();
        var belay = WindowsBelay;
        using var wine = WinePrefix.Create();

        var (layout, exe, config) = LayOut(wine, belay);

        // Outside the SCM, --service says what it is for (StartServiceCtrlDispatcher fails with 1063), exit 2.
        var console = wine.Run(exe, "run", "--config", config, "--service");
        Assert.True(console.ExitCode == 2, console.ToString());
        Assert.Contains("belay run --service is what the Windows service control manager starts", console.StdErr, StringComparison.Ordinal);

        // Registered with the image path the Windows backend writes (sc create, because the
        // installer is not wired to the backend yet; see the report for issue 4).
        var definition = new ServiceDefinition { CommandLine = [exe, "run", "--config", config] };
        var imagePath = WindowsServiceBackend.ImagePath(definition);
        Assert.Equal(@"""C:\Program Files\Belay\bin\belay.exe"" run --config C:\ProgramData\Belay\etc\config.json --service", imagePath);
        var create = wine.Run("sc", "create", Service, "binPath=", imagePath, "start=", "auto", "DisplayName=", WindowsServiceBackend.DisplayName);
        Assert.True(create.ExitCode == 0, create.ToString());

        var key = @"HKLM\System\CurrentControlSet\Services\" + Service;
        var registry = wine.Run("reg", "query", key);
        Assert.Contains(imagePath, registry.StdOut, StringComparison.Ordinal);
        Assert.Matches(@"Start\s+REG_DWORD\s+0x2\b", registry.StdOut); // SERVICE_AUTO_START
        Assert.Matches(@"Type\s+REG_DWORD\s+0x10\b", registry.StdOut); // SERVICE_WIN32_OWN_PROCESS

        var start = wine.Run("sc", "start", Service);
        Assert.True(start.ExitCode == 0, start.ToString());
        // START_PENDING (with checkpoints) while the keeper waits for a ready agent, which never
        // comes here (version 1.0.0 has no agent binary), then RUNNING at the latest WindowsServiceHost.ReadyLimit (15 s)
        // after the start, so that the service can be stopped and does not hold up the boot.
        var states = wine.WaitForState(Service, 4, TimeSpan.FromSeconds(60));
        Assert.True(states.IndexOf(2) is >= 0 and var pending && pending < states.IndexOf(4), $"states seen: {string.Join(" ", states)}");
        var log = wine.OnLinux(layout.KeeperLog);
        var text = File.ReadAllText(log);
        Assert.Contains("keeper started (pid", text, StringComparison.Ordinal);
        Assert.Contains("keeper no agent ready within 15 s; reporting the service as running anyway", text, StringComparison.Ordinal);
        Assert.Contains("keeper service running", text, StringComparison.Ordinal);

        var stop = wine.Run("sc", "stop", Service);
        Assert.True(stop.ExitCode == 0, stop.ToString());
        wine.WaitForState(Service, 1, TimeSpan.FromSeconds(30));
        var stopped = wine.Query(Service).Output.StdOut;
        Assert.Matches(@"WIN32_EXIT_CODE\s*:\s*0\b", stopped);
        text = File.ReadAllText(log);
        Assert.Contains("the service control manager asks the keeper to stop", text, StringComparison.Ordinal);
        Assert.Contains("keeper stopped", text, StringComparison.Ordinal);
        Assert.False(File.Exists(wine.OnLinux(layout.KeeperPidFile)), "the keeper removes its pid file when it stops");

        var delete = wine.Run("sc", "delete", Service);
        Assert.True(delete.ExitCode == 0, delete.ToString());
        Assert.Equal(0, wine.Query(Service).State);
        Assert.NotEqual(0, wine.Run("reg", "query", key).ExitCode);
    }

    /// <summary>An installation as belay install lays it out on Windows: the binaries under Program
    /// Files (a path with a space: the image path must quote it), config and state under ProgramData.</summary>
    private static (InstallLayout Layout, string Exe, string Config) LayOut(WinePrefix wine, string belay)
    {
        var layout = new InstallLayout(BinRoot, DataRoot + @"\etc", DataRoot, DataRoot + @"\logs");
        var exe = BinRoot + @"\bin\belay.exe";
        var config = DataRoot + @"\etc\config.json";
        Directory.CreateDirectory(Path.GetDirectoryName(wine.OnLinux(exe))!);
        File.Copy(belay, wine.OnLinux(exe));
        Directory.CreateDirectory(wine.OnLinux(layout.ConfigDir));
        Directory.CreateDirectory(wine.OnLinux(layout.StateDir));
        new InstallConfig
        {
            Feeds = ["https://feed.invalid/belay"],
            RootKeys = [RootKey()],
            ServiceManager = "windows",
            Paths = ConfigPaths.From(layout),
        }.Save(wine.OnLinux(config));
        // Version 1.0.0 has no agent: the keeper logs that it cannot start it and keeps trying,
        // which is all these tests need from it (the agent's readiness is the installer's test).
        InstallStateStore.Save(wine.OnLinux(DataRoot + @"\state.json"), new InstallState { Current = "1.0.0" });
        return (layout, exe, config);
    }

    private static void PrefixOrSkip() => _ = WinePrefix.RequireWine();

    private static string RootKey()
    {
        var pub = Path.Combine(BelayBinaries.KeysDirectory, "root.pub");
        Assert.True(File.Exists(pub), $"no developer root key at {pub}: run ./build.sh keys");
        return File.ReadAllLines(pub).Last(l => l.Length > 0);
    }
}
