using System.Text.Json;
using Belay.EndToEnd.Tests.Release;

namespace Belay.EndToEnd.Tests.Install;

/// <summary>Root rotation and belay doctor with the shipped NativeAOT binaries, a feed on nginx and an installed host.</summary>
public sealed class TrustTests : IDisposable
{
    private readonly InstalledHost _host = new();

    public void Dispose() => _host.Dispose();

    [Fact]
    public void AnInstalledHostFollowsARootRotationAndDoctorFindsNothingWrong()
    {
        _host.PublishAgent("1.0.0");
        var install = _host.Install();
        Assert.True(install.ExitCode == 0, install + _host.ReadLog());
        Assert.DoesNotContain("warning:", install.StdOut, StringComparison.Ordinal);
        var trustFile = Path.Combine(_host.Prefix, "var", "trust.json");
        _host.WaitFor(_ => File.Exists(trustFile), TimeSpan.FromSeconds(20), "trust.json written by the agent");

        var doctor = InstalledHost.Belay("doctor", "--prefix", _host.Prefix, "--scope", "user");
        Assert.True(doctor.ExitCode == 0, doctor.ToString());
        Assert.Contains("no problem found", doctor.StdOut, StringComparison.Ordinal);
        Assert.Contains("ok    clock: within", doctor.StdOut, StringComparison.Ordinal);

        // The publisher rotates to a new root key: signed by the old key and the new one.
        var ws = _host.Workspace;
        var newKeys = Path.Combine(ws.Root, "keys2");
        Assert.Equal(0, ReleaseWorkspace.Release("keygen", "--out", newKeys).ExitCode);
        var rotate = ReleaseWorkspace.Release("root", "rotate", "--feed", ws.Feed, "--sign", ws.RootKey, "--sign", Path.Combine(newKeys, "root.key"),
            "--root-key", Path.Combine(newKeys, "root.pub"));
        Assert.True(rotate.ExitCode == 0, rotate.ToString());
        Assert.Contains("version 2", rotate.StdOut, StringComparison.Ordinal);
        var verify = ws.VerifyFeed();
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains("followed 1 root rotation(s) to version 2", verify.StdOut, StringComparison.Ordinal);

        // The host, pinned to the old key, follows the rotation and then the next release.
        _host.PublishAgent("1.1.0");
        _host.WaitFor(s => InstalledHost.On(s, "1.1.0"), TimeSpan.FromSeconds(60), "on 1.1.0 after the rotation");
        using (var trust = JsonDocument.Parse(File.ReadAllText(trustFile)))
        {
            Assert.Equal(2, trust.RootElement.GetProperty("rootVersion").GetInt64());
        }
        var after = InstalledHost.Belay("doctor", "--prefix", _host.Prefix, "--scope", "user");
        Assert.True(after.ExitCode == 0, after.ToString());
        Assert.Contains("root version 2 (1 rotation(s) from the pinned key)", after.StdOut, StringComparison.Ordinal);

        // A rotation signed by the new key alone (the old one withheld) is refused by the publisher.
        var third = Path.Combine(ws.Root, "keys3");
        Assert.Equal(0, ReleaseWorkspace.Release("keygen", "--out", third).ExitCode);
        var refused = ReleaseWorkspace.Release("root", "rotate", "--feed", ws.Feed, "--sign", Path.Combine(third, "root.key"), "--root-key", Path.Combine(third, "root.pub"));
        Assert.Equal(3, refused.ExitCode);
    }

    [Fact]
    public void DoctorFailsAndSaysWhatToFixWhenABinaryIsWritableByOthers()
    {
        _host.PublishAgent("1.0.0");
        Assert.Equal(0, _host.Install().ExitCode);
        var agent = Path.Combine(_host.Prefix, "versions", "1.0.0", "belay-agent");
        File.SetUnixFileMode(agent, File.GetUnixFileMode(agent) | UnixFileMode.OtherWrite);
        var doctor = InstalledHost.Belay("doctor", "--prefix", _host.Prefix, "--scope", "user");
        Assert.Equal(1, doctor.ExitCode);
        Assert.Contains($"FAIL  binaries: {agent}", doctor.StdOut, StringComparison.Ordinal);
        Assert.Contains($"chmod go-w {agent}", doctor.StdOut, StringComparison.Ordinal);

        // The same as JSON, in its documented shape: a summary, then every finding.
        var json = InstalledHost.Belay("doctor", "--json", "--prefix", _host.Prefix, "--scope", "user");
        Assert.Equal(1, json.ExitCode);
        using var doc = JsonDocument.Parse(json.StdOut);
        var report = doc.RootElement;
        Assert.False(report.GetProperty("ok").GetBoolean());
        Assert.True(report.GetProperty("problems").GetInt32() >= 1);
        Assert.True(report.GetProperty("warnings").GetInt32() >= 0);
        var findings = report.GetProperty("findings").EnumerateArray().ToList();
        Assert.Equal(report.GetProperty("problems").GetInt32(), findings.Count(f => !f.GetProperty("ok").GetBoolean() && !f.GetProperty("warning").GetBoolean()));
        var binary = findings.Single(f => f.GetProperty("check").GetString() == "binaries" && !f.GetProperty("ok").GetBoolean());
        Assert.Contains(agent, binary.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("chmod go-w", binary.GetProperty("fix").GetString(), StringComparison.Ordinal);
    }
}
