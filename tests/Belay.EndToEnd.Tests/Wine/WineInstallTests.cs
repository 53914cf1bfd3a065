using System.Text.Json;
using Belay.EndToEnd.Tests.Release;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Wine;

/// <summary>
/// `belay.exe install --service-manager windows` itself registers the keeper, through the SCM API
/// (NativeServiceControlManager: real advapi32 calls, answered by Wine's services.exe), from a feed
/// given as a folder (Z:\...), for the whole machine (under Wine every process is an administrator).
/// <para>
/// Where Wine differs from Windows (docs/service-managers.md records it): install runs with
/// --no-start and the service is started with sc (the agent's start under Wine on a loaded
/// machine can outlast install's wait for readiness); Wine 8 rejects two ChangeServiceConfig2 settings with ERROR_INVALID_LEVEL
/// (delayed auto-start, the failure-actions flag), which the backend tolerates, so there is no
/// DelayedAutostart or FailureActionsOnNonCrashFailures value here (on Windows both are 1);
/// and it accepts the recovery actions but discards them (no FailureActions value; Windows stores
/// three restarts after 5 s). Those calls are checked through the fake SCM in Belay.Core.Tests.
/// </para>
/// </summary>
public sealed class WineInstallTests
{
    private const string Key = @"HKLM\SYSTEM\CurrentControlSet\Services\Belay";
    private const string ImagePath = @"""C:\Program Files\Belay\bin\belay.exe"" run --config C:\ProgramData\Belay\etc\config.json --service";

    [Fact]
    public void Belay_install_registers_the_keeper_with_the_scm_which_runs_and_stops_it_and_uninstall_deletes_it()
    {
        _ = WinePrefix.RequireWine();
        var belay = WindowsBuild.Belay;
        using var ws = new ReleaseWorkspace();
        Assert.Equal(0, ws.Init().ExitCode);
        WindowsBuild.PublishAgent(ws, "1.0.0");
        using var wine = WinePrefix.Create();
        var exe = WindowsBuild.OnZ(belay);

        var install = WindowsBuild.InstallSystemNoStart(wine, ws, exe);
        Assert.Contains(@"installed version 1.0.0 for win-x64 in C:\Program Files\Belay (config C:\ProgramData\Belay\etc\config.json)", install.StdOut, StringComparison.Ordinal);
        Assert.Contains("registered the keeper with windows", install.StdOut, StringComparison.Ordinal);
        Assert.True(File.Exists(wine.OnLinux(@"C:\Program Files\Belay\bin\belay.exe")));
        Assert.True(File.Exists(wine.OnLinux(@"C:\Program Files\Belay\versions\1.0.0\belay-agent.exe")));
        using (var config = JsonDocument.Parse(File.ReadAllBytes(wine.OnLinux(@"C:\ProgramData\Belay\etc\config.json"))))
        {
            Assert.Equal("windows", config.RootElement.GetProperty("serviceManager").GetString());
            Assert.Equal("system", config.RootElement.GetProperty("scope").GetString());
        }

        var registry = wine.Run("reg", "query", Key);
        Assert.True(registry.ExitCode == 0, registry.ToString());
        Assert.Contains(ImagePath, registry.StdOut, StringComparison.Ordinal);
        Assert.Matches(@"Start\s+REG_DWORD\s+0x2\b", registry.StdOut);
        Assert.Matches(@"Type\s+REG_DWORD\s+0x10\b", registry.StdOut);
        Assert.Matches(@"ErrorControl\s+REG_DWORD\s+0x1\b", registry.StdOut);
        Assert.Matches(@"DisplayName\s+REG_SZ\s+Belay keeper", registry.StdOut);
        Assert.Matches(@"Description\s+REG_SZ\s+Belay keeper: runs, updates and rolls back the Belay agent", registry.StdOut);
        // Wine 8 accepts SERVICE_CONFIG_FAILURE_ACTIONS and discards it (a FIXME stub in services.exe): no
        // FailureActions value here, where Windows stores the three restarts. The fake SCM tests check the call.
        Assert.DoesNotMatch("FailureActions", registry.StdOut);
        Assert.DoesNotMatch("DelayedAutostart", registry.StdOut); // Wine 8: ERROR_INVALID_LEVEL (see above)

        Assert.Equal(1, wine.Query("Belay").State);
        var start = wine.Run("sc", "start", "Belay");
        Assert.True(start.ExitCode == 0, start.ToString());
        wine.WaitForState("Belay", 4, TimeSpan.FromSeconds(60));
        var log = File.ReadAllText(wine.OnLinux(@"C:\ProgramData\Belay\logs\keeper.log"));
        Assert.Contains("keeper started (pid", log, StringComparison.Ordinal);
        Assert.Contains("keeper service running", log, StringComparison.Ordinal);

        var stop = wine.Run("sc", "stop", "Belay");
        Assert.True(stop.ExitCode == 0, stop.ToString());
        wine.WaitForState("Belay", 1, TimeSpan.FromSeconds(40));

        var uninstall = wine.Run(TimeSpan.FromMinutes(2), exe, "uninstall", "--scope", "system");
        Assert.True(uninstall.ExitCode == 0, uninstall.ToString());
        Assert.Contains("removed its windows registration", uninstall.StdOut, StringComparison.Ordinal);
        Assert.NotEqual(0, wine.Run("reg", "query", Key).ExitCode);
        Assert.Equal(0, wine.Query("Belay").State);
        Assert.False(Directory.Exists(wine.OnLinux(@"C:\Program Files\Belay\bin")));
        Assert.False(Directory.Exists(wine.OnLinux(@"C:\Program Files\Belay\versions")));
        Assert.False(File.Exists(wine.OnLinux(@"C:\ProgramData\Belay\etc\config.json")));
        Assert.True(File.Exists(wine.OnLinux(@"C:\ProgramData\Belay\host-id")), "uninstall without --purge keeps the host id");
    }
}
