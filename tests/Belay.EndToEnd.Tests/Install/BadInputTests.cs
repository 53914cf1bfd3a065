using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Install;

/// <summary>Each refused install says what was wrong, exits with its code, and writes nothing.</summary>
public sealed class BadInputTests : IDisposable
{
    private readonly InstalledHost _host = new();

    public void Dispose() => _host.Dispose();

    private void AssertNothingWritten() =>
        Assert.False(Directory.Exists(_host.Prefix), $"{_host.Prefix} exists after a refused install");

    [Fact]
    public void AnUnreachableFeedExits4()
    {
        var result = InstalledHost.Belay("install", "--feed", "http://127.0.0.1:9/", "--scope", "user", "--prefix", _host.Prefix, "--root-key", _host.Workspace.RootPub);
        Assert.Equal(4, result.ExitCode);
        Assert.Contains("cannot reach http://127.0.0.1:9/", result.StdErr, StringComparison.Ordinal);
        AssertNothingWritten();
    }

    [Theory]
    [InlineData("launchd", "launchd runs on macOS only")]
    [InlineData("smf", "SMF runs on illumos and Solaris only")]
    [InlineData("windows", "the Windows service manager runs on Windows only")]
    [InlineData("upstart", "--service-manager 'upstart': use auto, systemd, launchd, smf, windows or none")]
    public void AServiceManagerThisHostDoesNotRunExits2(string manager, string message)
    {
        _host.PublishAgent("1.0.0");
        var result = InstalledHost.Belay("install", "--feed", _host.FeedUrl, "--scope", "user", "--prefix", _host.Prefix,
            "--root-key", _host.Workspace.RootPub, "--service-manager", manager);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.StdErr, StringComparison.Ordinal);
        AssertNothingWritten();
    }

    [Fact]
    public void SystemdWhereSystemdDoesNotRunExits2()
    {
        if (Directory.Exists("/run/systemd/system"))
        {
            Assert.Skip("systemd runs on this host; the test needs a host (or container) without it");
        }
        _host.PublishAgent("1.0.0");
        var result = InstalledHost.Belay("install", "--feed", _host.FeedUrl, "--scope", "user", "--prefix", _host.Prefix,
            "--root-key", _host.Workspace.RootPub, "--service-manager", "systemd");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("systemd is not running on this host", result.StdErr, StringComparison.Ordinal);
        Assert.Contains("use --service-manager auto to detect, or none", result.StdErr, StringComparison.Ordinal);
        AssertNothingWritten();
    }

    [Fact]
    public void TheWrongRootKeyExits3()
    {
        _host.PublishAgent("1.0.0");
        using var other = new Release.ReleaseWorkspace();
        var result = InstalledHost.Belay("install", "--feed", _host.FeedUrl, "--scope", "user", "--prefix", _host.Prefix, "--root-key", other.RootPub);
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("which is not a trusted root key (this host trusts", result.StdErr, StringComparison.Ordinal);
        AssertNothingWritten();
    }

    [Fact]
    public void ATamperedArtifactExits3()
    {
        _host.PublishAgent("1.0.0");
        // The file belay downloads: the compact form.
        var artifact = Path.Combine(_host.Workspace.Feed, "agent", "1.0.0", "belay-agent-1.0.0-linux-x64.tar.x86.br");
        var bytes = File.ReadAllBytes(artifact);
        bytes[bytes.Length / 2] ^= 0x55;
        File.WriteAllBytes(artifact, bytes);
        var result = _host.Install();
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("SHA-256", result.StdErr, StringComparison.Ordinal);
        AssertNothingWritten();
    }

    [Fact]
    public void AnExpiredManifestExits3()
    {
        _host.PublishAgent("1.0.0");
        var refresh = Release.ReleaseWorkspace.Release("refresh", "--feed", _host.Workspace.Feed, "--key", _host.Workspace.ReleaseKey, "--expires", "1s");
        Assert.Equal(0, refresh.ExitCode);
        Thread.Sleep(TimeSpan.FromSeconds(2.1));
        var result = _host.Install();
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("expired", result.StdErr, StringComparison.Ordinal);
        AssertNothingWritten();
    }

    [Fact]
    public void AManifestWithALowerSequenceThanSeenExits3()
    {
        _host.PublishAgent("1.0.0");
        var channel = Path.Combine(_host.Workspace.Feed, "channels");
        var old = Path.Combine(_host.Workspace.Root, "old-channel");
        Directory.CreateDirectory(old);
        foreach (var f in Directory.GetFiles(channel))
        {
            File.Copy(f, Path.Combine(old, Path.GetFileName(f)));
        }
        _host.PublishAgent("2.0.0");
        Assert.True(_host.Install().ExitCode == 0, _host.ReadLog());
        _host.WaitFor(s => s.GetProperty("sequence").GetInt64() == 2, TimeSpan.FromSeconds(20), "at sequence 2");

        // A mirror (or an attacker) serves the older, validly signed manifest again.
        foreach (var f in Directory.GetFiles(old))
        {
            File.Copy(f, Path.Combine(channel, Path.GetFileName(f)), overwrite: true);
        }
        var before = File.ReadAllText(Path.Combine(_host.Prefix, "var", "state.json"));
        var result = InstalledHost.Belay("update", "--check", "--prefix", _host.Prefix, "--scope", "user");
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("lower than 2 already seen", result.StdErr, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllText(Path.Combine(_host.Prefix, "var", "state.json")));
        var status = _host.WaitFor(s => s.GetProperty("lastCheck").GetProperty("result").GetString() == "error", TimeSpan.FromSeconds(20), "refusing the replay");
        Assert.Equal(2, status.GetProperty("sequence").GetInt64());
        Assert.Contains("lower than 2", status.GetProperty("lastCheck").GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void AFeedWithNoArtifactForThisRidExits1NamingTheRid()
    {
        var input = Path.Combine(_host.Workspace.Root, "arm");
        Directory.CreateDirectory(input);
        File.WriteAllText(Path.Combine(input, "belay-agent"), "not for this host");
        var packages = Path.Combine(_host.Workspace.Root, "packages");
        Assert.Equal(0, Release.ReleaseWorkspace.Release("package", "--compact", "fast", "--rid", "linux-arm64", "--version", "1.0.0", "--input", input, "--out", packages).ExitCode);
        Assert.Equal(0, Release.ReleaseWorkspace.Release("publish", "--feed", _host.Workspace.Feed, "--version", "1.0.0",
            "--artifact", $"linux-arm64={Path.Combine(packages, "belay-agent-1.0.0-linux-arm64.tar.gz")}", "--key", _host.Workspace.ReleaseKey).ExitCode);
        var result = _host.Install();
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("linux-x64", result.StdErr, StringComparison.Ordinal);
        Assert.Contains("linux-arm64", result.StdErr, StringComparison.Ordinal);
        AssertNothingWritten();
    }

    [Fact]
    public void PlainHttpToAnotherHostIsRefusedUnlessAllowed()
    {
        var result = InstalledHost.Belay("install", "--feed", "http://feed.invalid/", "--scope", "user", "--prefix", _host.Prefix, "--root-key", _host.Workspace.RootPub);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--allow-insecure-http", result.StdErr, StringComparison.Ordinal);
        AssertNothingWritten();
    }

    [Fact]
    public void StatusOfAHostWithoutBelaySaysHowToInstall()
    {
        var result = InstalledHost.Belay("status", "--prefix", _host.Prefix, "--json");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("belay install --feed", result.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void AHostileArchiveIsRefusedByItsUrlAndVersionNotByATemporaryFile()
    {
        // A signed release whose archive climbs out of its folder: the signature and hash hold, the extraction refuses it.
        var archive = Path.Combine(_host.Workspace.Root, "belay-agent-1.0.0-linux-x64.tar.gz");
        using (var file = File.Create(archive))
        using (var gzip = new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionLevel.Fastest))
        using (var tar = new System.Formats.Tar.TarWriter(gzip))
        {
            var entry = new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, "../escaped") { DataStream = new MemoryStream("x"u8.ToArray()) };
            tar.WriteEntry(entry);
        }
        Assert.Equal(0, Release.ReleaseWorkspace.Release("publish", "--feed", _host.Workspace.Feed, "--version", "1.0.0",
            "--artifact", $"linux-x64={archive}", "--key", _host.Workspace.ReleaseKey).ExitCode);
        var result = _host.Install();
        Assert.Equal(3, result.ExitCode);
        Assert.Contains($"refusing {_host.FeedUrl}agent/1.0.0/belay-agent-1.0.0-linux-x64.tar.gz (version 1.0.0 for linux-x64): entry '../escaped'", result.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain(".download", result.StdErr, StringComparison.Ordinal);
        AssertNothingWritten();
    }
}
