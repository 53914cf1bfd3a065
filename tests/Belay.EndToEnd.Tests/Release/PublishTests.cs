using System.Text.Json;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Release;

/// <summary>belay-release keygen, init, publish and verify-feed, run as the shipped NativeAOT binary.</summary>
public sealed class PublishTests : IDisposable
{
    private readonly ReleaseWorkspace _ws = new();

    public void Dispose() => _ws.Dispose();

    [Fact]
    public void KeygenWritesSecretKeysReadableOnlyByTheirOwnerAndRefusesToOverwrite()
    {
        foreach (var name in new[] { "root.key", "release.key" })
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_ws.Keys, name)));
        }
        Assert.Contains("minisign public key", File.ReadAllText(_ws.RootPub), StringComparison.Ordinal);
        var before = File.ReadAllText(_ws.RootKey);
        var again = ReleaseWorkspace.Release("keygen", "--out", _ws.Keys);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("refusing to overwrite", again.StdErr, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllText(_ws.RootKey));
    }

    [Fact]
    public void APublishedFeedPassesVerifyFeedAndTheStockMinisignTool()
    {
        Assert.Equal(0, _ws.Init().ExitCode);
        var first = _ws.Publish("1.0.0");
        Assert.True(first.ExitCode == 0, first.ToString());
        var second = _ws.Publish("1.1.0", "--rollout", "10");
        Assert.True(second.ExitCode == 0, second.ToString());

        var verify = _ws.VerifyFeed();
        Assert.True(verify.ExitCode == 0, verify.ToString());
        // root.json, the channel, and each release's .tar.gz and its compact form.
        Assert.Contains("all 6 checks passed", verify.StdOut, StringComparison.Ordinal);
        Assert.Contains("agent/1.1.0/belay-agent-1.1.0-linux-x64.tar.x86.br (agent 1.1.0 linux-x64, compact)", verify.StdOut, StringComparison.Ordinal);

        using var manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(_ws.Feed, "channels", "stable.json")));
        Assert.Equal(2, manifest.RootElement.GetProperty("sequence").GetInt64());
        var releases = manifest.RootElement.GetProperty("releases");
        Assert.Equal(["1.0.0", "1.1.0"], releases.EnumerateArray().Select(r => r.GetProperty("version").GetString()));
        Assert.Equal(10, releases[1].GetProperty("rollout").GetProperty("percent").GetInt32());
        Assert.Equal("agent/1.1.0/belay-agent-1.1.0-linux-x64.tar.x86.br",
            releases[1].GetProperty("artifacts").GetProperty("linux-x64").GetProperty("compact").GetProperty("path").GetString());

        var minisign = ExternalTool.Require("minisign", "minisign");
        foreach (var (file, key) in new[]
        {
            ("root.json", _ws.RootPub),
            ("channels/stable.json", _ws.ReleasePub),
            ("agent/1.1.0/belay-agent-1.1.0-linux-x64.tar.gz", _ws.ReleasePub),
            ("agent/1.1.0/belay-agent-1.1.0-linux-x64.tar.x86.br", _ws.ReleasePub),
        })
        {
            var r = ExternalTool.Run(minisign, ["-V", "-p", key, "-m", Path.Combine(_ws.Feed, file)]);
            Assert.True(r.ExitCode == 0, $"minisign -V {file}: {r}");
        }
    }

    [Fact]
    public void AManifestChangedAfterSigningFailsVerifyFeedWithTheTrustCode()
    {
        Assert.Equal(0, _ws.Init().ExitCode);
        Assert.Equal(0, _ws.Publish("1.0.0").ExitCode);
        var path = Path.Combine(_ws.Feed, "channels", "stable.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"percent\": 100", "\"percent\": 99", StringComparison.Ordinal));

        var verify = _ws.VerifyFeed();
        Assert.Equal(3, verify.ExitCode);
        Assert.Contains("FAIL  channels/stable.json", verify.StdOut, StringComparison.Ordinal);
        Assert.Contains("signature", verify.StdOut, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void AnArtifactSwappedOnTheServerIsNamedByVerifyFeed()
    {
        Assert.Equal(0, _ws.Init().ExitCode);
        Assert.Equal(0, _ws.Publish("1.0.0").ExitCode);
        foreach (var name in new[] { "belay-agent-1.0.0-linux-x64.tar.gz", "belay-agent-1.0.0-linux-x64.tar.x86.br" })
        {
            var artifact = Path.Combine(_ws.Feed, "agent", "1.0.0", name);
            var bytes = File.ReadAllBytes(artifact);
            bytes[^1] ^= 0xff;
            File.WriteAllBytes(artifact, bytes);
        }

        var verify = _ws.VerifyFeed();
        Assert.Equal(3, verify.ExitCode);
        Assert.Contains("belay-agent-1.0.0-linux-x64.tar.gz has SHA-256", verify.StdOut, StringComparison.Ordinal);
        Assert.Contains("belay-agent-1.0.0-linux-x64.tar.x86.br has SHA-256", verify.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void VerifyFeedRefusesAFeedSignedByAnotherRootKey()
    {
        Assert.Equal(0, _ws.Init().ExitCode);
        Assert.Equal(0, _ws.Publish("1.0.0").ExitCode);
        using var other = new ReleaseWorkspace();
        var verify = ReleaseWorkspace.Release("verify-feed", "--feed", _ws.Feed, "--root-key", other.RootPub);
        Assert.Equal(3, verify.ExitCode);
        Assert.Contains("not a trusted root key", verify.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void AnExpiredManifestFailsVerifyFeed()
    {
        Assert.Equal(0, _ws.Init().ExitCode);
        Assert.Equal(0, _ws.Publish("1.0.0", "--expires", "1s").ExitCode);
        Thread.Sleep(TimeSpan.FromSeconds(2.1));
        var verify = _ws.VerifyFeed();
        Assert.Equal(3, verify.ExitCode);
        Assert.Contains("expired", verify.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void PublishRefusesAVersionThatIsNotNewerAndLeavesTheFeedAsItWas()
    {
        Assert.Equal(0, _ws.Init().ExitCode);
        Assert.Equal(0, _ws.Publish("1.2.0").ExitCode);
        var before = _ws.Snapshot();

        var older = _ws.Publish("1.1.0");
        Assert.Equal(1, older.ExitCode);
        Assert.Contains("not newer than 1.2.0", older.StdErr, StringComparison.Ordinal);
        var same = _ws.Publish("1.2.0");
        Assert.Equal(1, same.ExitCode);
        Assert.Contains("already published", same.StdErr, StringComparison.Ordinal);
        Assert.Equal(before, _ws.Snapshot());

        var forced = _ws.Publish("1.1.0", "--allow-older");
        Assert.True(forced.ExitCode == 0, forced.ToString());
    }

    [Fact]
    public void PublishRefusesAMissingArtifactFileBeforeWritingAnything()
    {
        Assert.Equal(0, _ws.Init().ExitCode);
        var before = _ws.Snapshot();
        var result = ReleaseWorkspace.Release("publish", "--feed", _ws.Feed, "--version", "1.0.0",
            "--artifact", $"linux-x64={_ws.Archive("1.0.0")}", "--artifact", "linux-arm64=/nonexistent/belay-agent.tar.gz",
            "--key", _ws.ReleaseKey);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("not found: /nonexistent/belay-agent.tar.gz", result.StdErr, StringComparison.Ordinal);
        Assert.Equal(before, _ws.Snapshot());
    }

    [Fact]
    public void PublishRefusesAKeyThatRootDoesNotList()
    {
        Assert.Equal(0, _ws.Init().ExitCode);
        var before = _ws.Snapshot();
        // The root key is a valid key, but not a release key of this feed.
        var result = ReleaseWorkspace.Release("publish", "--feed", _ws.Feed, "--version", "1.0.0",
            "--artifact", $"linux-x64={_ws.Archive("1.0.0")}", "--key", _ws.RootKey);
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("is not a release key of this feed", result.StdErr, StringComparison.Ordinal);
        Assert.Equal(before, _ws.Snapshot());
    }

    [Fact]
    public void PublishRefusesAnUnwritableFeedWithAClearMessage()
    {
        Assert.Equal(0, _ws.Init().ExitCode);
        var archive = _ws.Archive("1.0.0");
        var before = _ws.Snapshot();
        ToolResult result;
        if (Environment.UserName == "root")
        {
            // root writes anywhere: publish as an unprivileged user who may read the key but not write the feed.
            var setpriv = ExternalTool.Require("setpriv", "util-linux");
            File.SetUnixFileMode(_ws.Root, (UnixFileMode)0b111_101_101);
            File.SetUnixFileMode(_ws.Keys, (UnixFileMode)0b111_101_101);
            File.SetUnixFileMode(_ws.ReleaseKey, (UnixFileMode)0b110_100_100);
            result = ExternalTool.Run(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", BelayBinaries.Release,
                "publish", "--feed", _ws.Feed, "--version", "1.0.0", "--artifact", $"linux-x64={archive}", "--key", _ws.ReleaseKey]);
        }
        else
        {
            File.SetUnixFileMode(_ws.Feed, (UnixFileMode)0b101_101_101);
            result = _ws.Publish("1.0.0");
            File.SetUnixFileMode(_ws.Feed, (UnixFileMode)0b111_101_101);
        }
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("cannot write to feed directory", result.StdErr, StringComparison.Ordinal);
        Assert.Equal(before, _ws.Snapshot());
    }

    [Fact]
    public void PackagingTheSameInputTwiceGivesTheSameBytes()
    {
        // The .tar.gz and its compact form, both.
        var archive = _ws.Archive("2.0.0");
        var compact = archive[..^".tar.gz".Length] + ".tar.x86.br";
        var first = (File.ReadAllBytes(archive), File.ReadAllBytes(compact));
        File.Delete(archive);
        File.Delete(compact);
        Assert.Equal(archive, _ws.Archive("2.0.0"));
        Assert.Equal(first.Item1, File.ReadAllBytes(archive));
        Assert.Equal(first.Item2, File.ReadAllBytes(compact));

        var tar = ExternalTool.Run("tar", ["-tvzf", archive]);
        Assert.Contains("-rwxr-xr-x root/root", tar.StdOut, StringComparison.Ordinal);
        Assert.Contains("belay-agent", tar.StdOut, StringComparison.Ordinal);
    }
}
