using System.Text.Json;
using Belay.EndToEnd.Tests.Release;

namespace Belay.EndToEnd.Tests.Wine;

/// <summary>
/// config.json (the token) gets the owner-only ACL through the real advapi32 calls, as far as Wine 8
/// answers them. Wine keeps no ACLs: SetFileSecurityW turns the DACL into the file's Unix mode (our
/// entries for SYSTEM and Administrators come out as the group's bits; no entry for Everyone clears
/// the others'),
/// and GetFileSecurityW makes a DACL up from the mode (the owner and SYSTEM, plus Everyone when others
/// may read), never protected. So this shows: install sets a DACL without Everyone (the Unix mode loses
/// the others' bits, which a file written without it, host-id, keeps), and doctor reads a DACL back
/// and tells an owner-only one from one that others may read. It cannot show the protected flag or
/// the Administrators entry surviving (Wine's read-back lacks both, so doctor reports config.json on
/// Wine) nor a user being refused; docs/security.md says what was not run on Windows. Only the system
/// scope runs: on Windows `belay install` takes the SCM alone, which has no per-user services.
/// </summary>
public sealed class WineSecretAclTests
{
    private const UnixFileMode Others = (UnixFileMode)0b000_000_111;
    private const string Config = @"C:\ProgramData\Belay\etc\config.json";

    private static JsonElement ConfigFinding(WinePrefix wine, string exe)
    {
        var doctor = wine.Run(TimeSpan.FromMinutes(2), exe, "doctor", "--json", "--scope", "system");
        using var doc = JsonDocument.Parse(doctor.StdOut);
        return doc.RootElement.GetProperty("findings").EnumerateArray().Single(f => f.GetProperty("check").GetString() == "config").Clone();
    }

    [Fact]
    public void Install_sets_a_dacl_that_lets_nobody_else_read_config_json_and_doctor_tells_it_from_a_readable_one()
    {
        _ = WinePrefix.RequireWine();
        var belay = WindowsBuild.Belay;
        using var ws = new ReleaseWorkspace();
        Assert.Equal(0, ws.Init().ExitCode);
        WindowsBuild.PublishAgent(ws, "1.0.0");
        using var wine = WinePrefix.Create();
        var exe = WindowsBuild.OnZ(belay);

        _ = WindowsBuild.InstallSystemNoStart(wine, ws, exe);

        // The DACL reached Wine: config.json lost the others' bits that a file written without it (host-id) keeps.
        var config = wine.OnLinux(Config);
        Assert.Equal((UnixFileMode)0, File.GetUnixFileMode(config) & Others);
        Assert.NotEqual((UnixFileMode)0, File.GetUnixFileMode(wine.OnLinux(@"C:\ProgramData\Belay\host-id")) & UnixFileMode.OtherRead);

        // Doctor reads the DACL back: on Wine the made-up one, owner and SYSTEM only, unprotected and without Administrators.
        var finding = ConfigFinding(wine, exe);
        var detail = finding.GetProperty("detail").GetString()!;
        Assert.Contains(Config + ": ACL D:(A;;FA;;;SY)(A;;FA;;;S-1-5-21-", detail, StringComparison.Ordinal);
        Assert.Contains("expected D:P(A;;FA;;;SY)(A;;FA;;;BA)", detail, StringComparison.Ordinal);
        Assert.DoesNotContain(";;;WD)", detail, StringComparison.Ordinal);

        // The same bytes written from Linux (mode 0644, no DACL set): doctor sees Everyone allowed to read.
        var bytes = File.ReadAllBytes(config);
        File.Delete(config);
        File.WriteAllBytes(config, bytes);
        File.SetUnixFileMode(config, (UnixFileMode)0b110_100_100);
        var readable = ConfigFinding(wine, exe);
        Assert.False(readable.GetProperty("ok").GetBoolean());
        Assert.Contains(";;;WD)", readable.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("icacls", readable.GetProperty("fix").GetString(), StringComparison.Ordinal);
    }
}
