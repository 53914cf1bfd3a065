using System.Text.Json;
using Belay.EndToEnd.Tests.Release;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Wine;

/// <summary>
/// The MSI (belay-release msi: wixl, msibuild) installed for real by Wine's msiexec: Windows
/// Installer's InstallFiles, InstallServices (ServiceInstall), the deferred custom action
/// <c>belay msi configure</c> as LocalSystem, StartServices (ServiceControl), MajorUpgrade, and
/// on /x StopServices, DeleteServices, <c>belay msi remove</c>, RemoveFiles.
/// <para>
/// Wine differs from Windows here: the agent may be slower to report ready than the keeper's 15 s
/// limit, after which it reports RUNNING anyway (StartServices waits for that); delayed
/// auto-start and the failure-actions flag are rejected by Wine's SCM (ERROR_INVALID_LEVEL, which
/// the custom action reports and tolerates); recovery actions are accepted and discarded.
/// </para>
/// </summary>
public sealed class WineMsiTests : IDisposable
{
    private const string Key = @"HKLM\SYSTEM\CurrentControlSet\Services\Belay";
    private readonly TempDir _dir = new("belay-wine-msi-");

    public void Dispose() => _dir.Dispose();

    private string BuildMsi(string version)
    {
        ExternalTool.Require("wixl", "wixl");
        ExternalTool.Require("msibuild", "msitools");
        var output = _dir.Combine("msi");
        var result = ReleaseWorkspace.Release("msi", "--version", version, "--belay", WindowsBuild.Belay, "--agent", WindowsBuild.Agent, "--out", output);
        Assert.True(result.ExitCode == 0, result.ToString());
        return Path.Combine(output, $"belay-{version}-x64.msi");
    }

    private static ToolResult Msiexec(WinePrefix wine, params string[] args) => wine.Run(TimeSpan.FromMinutes(3), "msiexec", args);

    /// <summary>
    /// `reg query` of the service key, which must exist. Right after msiexec, Wine's reg has been seen to
    /// exit 67 with no output once: it is asked again (five times at most, a second apart), and every
    /// answer is in the failure message.
    /// </summary>
    private static ToolResult Registry(WinePrefix wine)
    {
        var answers = new List<ToolResult>();
        for (var i = 0; i < 5; i++)
        {
            var r = wine.Run("reg", "query", Key);
            if (r.ExitCode == 0)
            {
                return r;
            }
            answers.Add(r);
            Thread.Sleep(1000);
        }
        Assert.Fail("reg query " + Key + " failed:\n" + string.Join("\n", answers));
        return null!;
    }

    private static string Log(string path) => File.Exists(path) ? File.ReadAllText(path) : "(no log)";

    [Fact]
    public void Msiexec_installs_configures_starts_upgrades_and_removes_belay()
    {
        _ = WinePrefix.RequireWine();
        var v1 = BuildMsi("1.2.3");
        var v2 = BuildMsi("1.3.0");
        using var ws = new ReleaseWorkspace();
        Assert.Equal(0, ws.Init().ExitCode);
        WindowsBuild.PublishAgent(ws, "1.2.3");
        using var wine = WinePrefix.Create();
        var feed = WindowsBuild.OnZ(ws.Feed);
        var rootKey = WindowsBuild.RootKeyLine(ws);

        // Without FEED: refused by the launch condition, nothing installed. Windows exits 1603 and logs the
        // condition's message; Wine's msiexec exits 67 and logs only "LaunchConditions. Return value 0".
        var noFeedLog = _dir.Combine("nofeed.log");
        var refused = Msiexec(wine, "/i", WindowsBuild.OnZ(v1), "/qn", "/l*v", WindowsBuild.OnZ(noFeedLog));
        Assert.True(refused.ExitCode != 0, refused.ToString());
        Assert.Contains("LaunchConditions. Return value 0", Log(noFeedLog), StringComparison.Ordinal);
        Assert.False(Directory.Exists(wine.OnLinux(@"C:\Program Files\Belay")));
        Assert.NotEqual(0, wine.Run("reg", "query", Key).ExitCode);

        // Install with the properties.
        var installLog = _dir.Combine("install.log");
        var install = Msiexec(wine, "/i", WindowsBuild.OnZ(v1), "/qn", "FEED=" + feed, "CHANNEL=stable", "TOKEN=s3cret-t0ken", "ROOTKEY=" + rootKey,
            "/l*v", WindowsBuild.OnZ(installLog));
        Assert.True(install.ExitCode == 0, install + Log(installLog));
        Assert.True(File.Exists(wine.OnLinux(@"C:\Program Files\Belay\bin\belay.exe")));
        Assert.True(File.Exists(wine.OnLinux(@"C:\Program Files\Belay\versions\1.2.3\belay-agent.exe")));
        using (var config = JsonDocument.Parse(File.ReadAllBytes(wine.OnLinux(@"C:\ProgramData\Belay\etc\config.json"))))
        {
            var c = config.RootElement;
            Assert.Equal(feed, c.GetProperty("feeds")[0].GetString());
            Assert.Equal("stable", c.GetProperty("channel").GetString());
            // The token under DPAPI (Wine's crypt32 CryptProtectData), never in clear.
            Assert.Equal(JsonValueKind.Null, c.GetProperty("token").ValueKind);
            Assert.False(string.IsNullOrEmpty(c.GetProperty("tokenDpapi").GetString()));
            Assert.Equal(rootKey, c.GetProperty("rootKeys")[0].GetString());
            Assert.Equal("windows", c.GetProperty("serviceManager").GetString());
        }
        Assert.Contains("\"current\": \"1.2.3\"", File.ReadAllText(wine.OnLinux(@"C:\ProgramData\Belay\state.json")), StringComparison.Ordinal);
        var registry = Registry(wine);
        // Wine's InstallServices writes the executable unquoted; belay msi configure sets the image path the
        // Windows backend registers (quoted executable), as on Windows.
        Assert.Contains(@"""C:\Program Files\Belay\bin\belay.exe"" run --config C:\ProgramData\Belay\etc\config.json --service", registry.StdOut, StringComparison.Ordinal);
        Assert.Matches(@"Start\s+REG_DWORD\s+0x2\b", registry.StdOut);
        Assert.Matches(@"Description\s+REG_SZ\s+Belay keeper: runs", registry.StdOut);
        wine.WaitForState("Belay", 4, TimeSpan.FromSeconds(60));
        Assert.Contains("token set", install.StdOut, StringComparison.Ordinal); // the custom action's own output
        TokenNotLogged(Log(installLog));
        Assert.DoesNotContain("s3cret-t0ken", File.ReadAllText(wine.OnLinux(ConfigJson)), StringComparison.Ordinal);
        // belay doctor unprotects it (CryptUnprotectData) and says so.
        Assert.Contains("the token is DPAPI-protected and unprotects here", SecretsFindings(wine), StringComparison.Ordinal);

        // A config.json from before DPAPI (the token in clear): the upgraded agent rewrites it protected when it starts.
        var clear = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(wine.OnLinux(ConfigJson)))!;
        clear["token"] = "s3cret-t0ken";
        clear["tokenDpapi"] = null;
        File.WriteAllText(wine.OnLinux(ConfigJson), clear.ToJsonString());
        Assert.Contains("holds the token in clear", SecretsFindings(wine), StringComparison.Ordinal);

        // Upgrade: no properties; the config stays, the new agent becomes current, the old folder goes.
        var upgradeLog = _dir.Combine("upgrade.log");
        var upgrade = Msiexec(wine, "/i", WindowsBuild.OnZ(v2), "/qn", "/l*v", WindowsBuild.OnZ(upgradeLog));
        Assert.True(upgrade.ExitCode == 0, upgrade + Log(upgradeLog));
        Assert.True(File.Exists(wine.OnLinux(@"C:\Program Files\Belay\versions\1.3.0\belay-agent.exe")));
        Assert.False(Directory.Exists(wine.OnLinux(@"C:\Program Files\Belay\versions\1.2.3")));
        var upgraded = WaitForProtectedToken(wine);
        Assert.Contains(feed.Replace(@"\", @"\\", StringComparison.Ordinal), upgraded, StringComparison.Ordinal);
        Assert.Contains("\"current\": \"1.3.0\"", File.ReadAllText(wine.OnLinux(@"C:\ProgramData\Belay\state.json")), StringComparison.Ordinal);
        Assert.Contains(@"belay.exe"" run --config", Registry(wine).StdOut, StringComparison.Ordinal);
        wine.WaitForState("Belay", 4, TimeSpan.FromSeconds(60));

        // Uninstall with PURGE=1: the service, the binaries, config, state and logs all go.
        var removeLog = _dir.Combine("remove.log");
        var remove = Msiexec(wine, "/x", WindowsBuild.OnZ(v2), "/qn", "PURGE=1", "/l*v", WindowsBuild.OnZ(removeLog));
        Assert.True(remove.ExitCode == 0, remove + Log(removeLog));
        Assert.NotEqual(0, wine.Run("reg", "query", Key).ExitCode);
        Assert.Equal(0, wine.Query("Belay").State);
        Assert.False(File.Exists(wine.OnLinux(@"C:\Program Files\Belay\bin\belay.exe")));
        Assert.False(Directory.Exists(wine.OnLinux(@"C:\Program Files\Belay\versions")));
        Assert.False(Directory.Exists(wine.OnLinux(@"C:\ProgramData\Belay")));
    }

    [Fact]
    public void The_remove_action_waits_for_a_keeper_still_stopping_before_it_purges()
    {
        // A service manager's stop answers for the service's state, not for its process: under Wine and load,
        // C:\ProgramData\Belay was once there right after a PURGE uninstall, most likely written again by a keeper
        // still stopping its agent when `belay msi remove` ran. Here the custom action's command starts first and the
        // stop comes 3 s into it, so that without the wait for the keeper's process it purges under a running keeper
        // every time (main's binaries: the purge refused, exit 5).
        _ = WinePrefix.RequireWine();
        var msi = BuildMsi("1.2.3");
        using var ws = new ReleaseWorkspace();
        Assert.Equal(0, ws.Init().ExitCode);
        WindowsBuild.PublishAgent(ws, "1.2.3");
        using var wine = WinePrefix.Create();
        var installLog = _dir.Combine("install.log");
        var install = Msiexec(wine, "/i", WindowsBuild.OnZ(msi), "/qn", "FEED=" + WindowsBuild.OnZ(ws.Feed), "ROOTKEY=" + WindowsBuild.RootKeyLine(ws),
            "/l*v", WindowsBuild.OnZ(installLog));
        Assert.True(install.ExitCode == 0, install + Log(installLog));
        wine.WaitForState("Belay", 4, TimeSpan.FromSeconds(60));
        Assert.True(File.Exists(wine.OnLinux(@"C:\ProgramData\Belay\keeper.pid")), "no keeper.pid");

        var remove = wine.RunWhile(TimeSpan.FromSeconds(3), ["sc", "stop", "Belay"], TimeSpan.FromMinutes(2),
            @"C:\Program Files\Belay\bin\belay.exe", "msi", "remove", "--purge", "1");
        Assert.True(remove.ExitCode == 0, remove.ToString());
        Assert.Equal(1, wine.Query("Belay").State); // stopped: the keeper was gone before anything was removed
        var programData = wine.OnLinux(@"C:\ProgramData\Belay");
        for (var i = 0; i < 12; i++)
        {
            if (Directory.Exists(programData))
            {
                Assert.Fail($"{programData} is there {i * 250} ms after the purge: " + string.Join(", ", Directory.EnumerateFileSystemEntries(programData, "*", SearchOption.AllDirectories))
                    + "\n" + remove);
            }
            Thread.Sleep(250);
        }
    }

    private const string ConfigJson = @"C:\ProgramData\Belay\etc\config.json";

    /// <summary>The details of `belay doctor --json`'s "secrets" findings, one a line.</summary>
    private static string SecretsFindings(WinePrefix wine)
    {
        var doctor = wine.Run(TimeSpan.FromMinutes(2), @"C:\Program Files\Belay\bin\belay.exe", "doctor", "--json", "--scope", "system");
        using var doc = JsonDocument.Parse(doctor.StdOut);
        return string.Join("\n", doc.RootElement.GetProperty("findings").EnumerateArray()
            .Where(f => f.GetProperty("check").GetString() == "secrets")
            .Select(f => f.GetProperty("detail").GetString()));
    }

    /// <summary>config.json holds the token under DPAPI, not in clear (the configure action protects it as it writes).</summary>
    private static void AssertTokenProtected(WinePrefix wine)
    {
        var text = File.ReadAllText(wine.OnLinux(ConfigJson));
        Assert.DoesNotContain("s3cret-t0ken", text, StringComparison.Ordinal);
        Assert.Contains("\"tokenDpapi\": \"", text, StringComparison.Ordinal);
    }

    /// <summary>config.json once the agent has protected its token (it does so when it starts); the test fails after two minutes.</summary>
    private static string WaitForProtectedToken(WinePrefix wine)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        var text = "";
        while (DateTime.UtcNow < deadline)
        {
            text = File.ReadAllText(wine.OnLinux(ConfigJson));
            if (!text.Contains("s3cret-t0ken", StringComparison.Ordinal) && text.Contains("\"tokenDpapi\": \"", StringComparison.Ordinal))
            {
                return text;
            }
            Thread.Sleep(500);
        }
        Assert.Fail("the agent did not protect config.json's token within two minutes:\n" + text);
        return text;
    }

    /// <summary>Every file under the prefix's C: that holds <paramref name="text"/>.</summary>
    private static List<string> FilesHolding(WinePrefix wine, string text) =>
        [.. Directory.EnumerateFiles(wine.DriveC, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true })
            .Where(f => new FileInfo(f).Length < 1_000_000 && File.ReadAllText(f).Contains(text, StringComparison.Ordinal))];

    /// <summary>What a failed first install must leave: nothing of Belay's on C: (no token anywhere), no service.</summary>
    private static void AssertNothingLeft(WinePrefix wine, ToolResult install, string log)
    {
        var what = install + log;
        Assert.False(File.Exists(wine.OnLinux(@"C:\ProgramData\Belay\etc\config.json")), "config.json left behind\n" + what);
        Assert.False(Directory.Exists(wine.OnLinux(@"C:\ProgramData\Belay")), "ProgramData\\Belay left behind\n" + what);
        Assert.False(Directory.Exists(wine.OnLinux(@"C:\Program Files\Belay")), "Program Files\\Belay left behind\n" + what);
        var holding = FilesHolding(wine, "s3cret-t0ken");
        Assert.True(holding.Count == 0, "the token is still in " + string.Join(", ", holding));
        Assert.NotEqual(0, wine.Run("reg", "query", Key).ExitCode); // no service registration either
        Assert.DoesNotContain("rollback: cannot", install.StdOut, StringComparison.Ordinal);
    }

    /// <summary>
    /// A deferred action after BelayConfigure fails (belay.exe exits 2), so Windows Installer rolls the
    /// first install back: BelayRollback must run while belay.exe is still installed (Wine 8 runs the
    /// rollback of InstallFiles before every rollback action scheduled ahead of InstallExecute; see belay.wxs)
    /// and take config.json with the token, the other files it wrote and the service away.
    /// </summary>
    [Fact]
    public void A_failure_after_the_configure_action_rolls_back_the_config_and_its_token()
    {
        _ = WinePrefix.RequireWine();
        var msi = BuildMsi("1.2.3");
        // Just before StartServices (5900), after every Belay action.
        var msibuild = ExternalTool.Require("msibuild", "msitools");
        foreach (var query in new[]
        {
            "INSERT INTO `CustomAction` (`Action`, `Type`, `Source`, `Target`) VALUES ('FailOnPurpose', 3090, 'belay.exe', 'msi no-such-action')",
            "INSERT INTO `InstallExecuteSequence` (`Action`, `Condition`, `Sequence`) VALUES ('FailOnPurpose', 'NOT REMOVE~=\"ALL\"', 5899)",
        })
        {
            var patched = ExternalTool.Run(msibuild, [msi, "-q", query]);
            Assert.True(patched.ExitCode == 0, patched.ToString());
        }
        using var ws = new ReleaseWorkspace();
        Assert.Equal(0, ws.Init().ExitCode);
        using var wine = WinePrefix.Create();
        var log = _dir.Combine("failing.log");
        var install = Msiexec(wine, "/i", WindowsBuild.OnZ(msi), "/qn", "FEED=" + WindowsBuild.OnZ(ws.Feed), "TOKEN=s3cret-t0ken", "ROOTKEY=" + WindowsBuild.RootKeyLine(ws),
            "/l*v", WindowsBuild.OnZ(log));
        Assert.True(install.ExitCode != 0, install + Log(log));
        Assert.Contains("token set", install.StdOut, StringComparison.Ordinal); // the configure action did run and write it
        Assert.Contains(@"rollback: removed C:\ProgramData\Belay\etc\config.json", install.StdOut, StringComparison.Ordinal);
        AssertNothingLeft(wine, install, Log(log));
    }

    /// <summary>
    /// `wineboot -i` and then at once `msiexec /i`, as a user would: a second services.exe starts while
    /// the first one's still runs, so two service control managers answer (each with its own list of
    /// services). The install either works or fails and leaves nothing; after a failure, what
    /// docs/install.md tells the user to do (`wineserver -w`, then msiexec again) installs it.
    /// </summary>
    [Fact]
    public void Msiexec_right_after_wineboot_as_a_user_runs_it_installs_or_leaves_nothing()
    {
        _ = WinePrefix.RequireWine();
        var msi = BuildMsi("1.2.3");
        using var ws = new ReleaseWorkspace();
        Assert.Equal(0, ws.Init().ExitCode);
        WindowsBuild.PublishAgent(ws, "1.2.3");
        using var wine = WinePrefix.CreateAsAUserWould();
        var log = _dir.Combine("user.log");
        var install = Msiexec(wine, "/i", WindowsBuild.OnZ(msi), "/qn", "FEED=" + WindowsBuild.OnZ(ws.Feed), "TOKEN=s3cret-t0ken", "ROOTKEY=" + WindowsBuild.RootKeyLine(ws),
            "/l*v", WindowsBuild.OnZ(log));
        if (install.ExitCode == 0)
        {
            Assert.True(File.Exists(wine.OnLinux(@"C:\Program Files\Belay\bin\belay.exe")));
            AssertTokenProtected(wine); // the configure action wrote the token under DPAPI
            Assert.False(File.Exists(wine.OnLinux(@"C:\ProgramData\Belay\" + ".msi-install")), "the commit action forgets the rollback list");
            Assert.Contains(@"""C:\Program Files\Belay\bin\belay.exe"" run --config", Registry(wine).StdOut, StringComparison.Ordinal);
        }
        else
        {
            AssertNothingLeft(wine, install, Log(log));
            wine.WaitForServerToEnd();
            var againLog = _dir.Combine("again.log");
            // As a user would: the server this starts (and its services) lives on after msiexec.
            var again = wine.RunWithOutputInFile(TimeSpan.FromMinutes(3), "msiexec", "/i", WindowsBuild.OnZ(msi), "/qn", "FEED=" + WindowsBuild.OnZ(ws.Feed), "TOKEN=s3cret-t0ken", "ROOTKEY=" + WindowsBuild.RootKeyLine(ws),
                "/l*v", WindowsBuild.OnZ(againLog));
            Assert.True(again.ExitCode == 0, again + Log(againLog));
            AssertTokenProtected(wine); // the configure action wrote the token under DPAPI
            Assert.False(File.Exists(wine.OnLinux(@"C:\ProgramData\Belay\" + ".msi-install")), "the commit action forgets the rollback list");
            Assert.Contains(@"""C:\Program Files\Belay\bin\belay.exe"" run --config", Registry(wine).StdOut, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// The custom action's command line (which carries TOKEN) is not logged. Wine's msi ignores
    /// MsiHiddenProperties in its closing property dump ("Property(S): TOKEN = ..."), which Windows
    /// Installer hides; that one line is the only place the token may appear here.
    /// </summary>
    private static void TokenNotLogged(string log)
    {
        Assert.DoesNotContain("--token", log, StringComparison.Ordinal);
        var leaks = log.Split('\n').Where(l => l.Contains("s3cret-t0ken", StringComparison.Ordinal) && !l.StartsWith("Property(S): TOKEN = ", StringComparison.Ordinal)).ToList();
        Assert.True(leaks.Count == 0, string.Join("\n", leaks));
    }
}
