using Belay.Core.Archives;
using Belay.Core.Feed;
using Belay.Core.Install;
using Belay.Core.Publishing;

namespace Belay.Core.Tests.Trust;

/// <summary>
/// The compact archive in a feed (docs/feed.md, "The compact archive"): publish lists it only when it holds the same tar,
/// a host stages from it, and it is bound by its own signed path, hash and size as strictly as the .tar.gz.
/// </summary>
public sealed class CompactArchiveFeedTests : IDisposable
{
    private readonly TestFeed _feed = new();
    private readonly InstallLayout _layout;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public CompactArchiveFeedTests()
    {
        _layout = new InstallLayout(_feed.Combine("bin"), _feed.Combine("etc"), _feed.State, _feed.Combine("log"));
    }

    public void Dispose() => _feed.Dispose();

    /// <summary>Packages an agent of <paramref name="marker"/> as belay-release package does (both forms) into a folder of its own.</summary>
    private string Package(string version, string marker, string rid = "linux-x64", bool compact = true)
    {
        var input = _feed.Combine($"publish-{version}-{marker}");
        Directory.CreateDirectory(input);
        var agent = Path.Combine(input, "belay-agent");
        File.WriteAllText(agent, "#!/bin/sh\necho " + marker + "\n" + new string('x', 5000));
        File.SetUnixFileMode(agent, (UnixFileMode)0b111_101_101);
        var output = _feed.Combine($"out-{version}-{marker}");
        Directory.CreateDirectory(output);
        var archive = Path.Combine(output, Path.GetFileName(FeedLayout.AgentArchive(version, rid)));
        if (compact)
        {
            ArchiveBuilder.CreateWithCompact(input, archive, rid, ArchiveBuilder.EntryTime(null), CompactArchive.Level.Fast);
        }
        else
        {
            ArchiveBuilder.Create(input, archive, rid, ArchiveBuilder.EntryTime(null));
        }
        return archive;
    }

    private PublishResult Publish(string version, string archive, string rid = "linux-x64") =>
        _feed.Publisher.Publish(new PublishRequest(_feed.Root, "stable", version, new Dictionary<string, string> { [rid] = archive },
            new Dictionary<string, string>(), _feed.ReleaseKey));

    private async Task<(FeedSource Source, ReleaseEntry Release)> Release(string version)
    {
        using var client = _feed.Client();
        var check = await client.CheckAsync(0, null, Ct);
        return (check.Source, check.Manifest!.Releases.Single(r => r.Version == version));
    }

    [Fact]
    public async Task PublishListsTheCompactFormSignedAndAHostStagesFromIt()
    {
        var result = Publish("1.0.0", Package("1.0.0", "one"));

        var entry = result.Manifest.Releases.Single().Artifacts["linux-x64"];
        Assert.NotNull(entry.Compact);
        Assert.Equal("agent/1.0.0/belay-agent-1.0.0-linux-x64.tar.x86.br", entry.Compact.Path);
        Assert.Equal(new FileInfo(_feed.File(entry.Compact.Path)).Length, entry.Compact.Size);
        Assert.True(File.Exists(_feed.File(entry.Compact.Path) + ".minisig"));
        Assert.Contains(_feed.File(entry.Compact.Path), result.WrittenFiles);

        // With the .tar.gz gone from the feed, staging still works: it read the compact form.
        File.Delete(_feed.File(entry.Path));
        var (source, release) = await Release("1.0.0");
        var agent = await Stager.StageAsync(source, release, "linux-x64", _layout, _ => { }, Ct);
        Assert.Contains("echo one", File.ReadAllText(agent), StringComparison.Ordinal);
        Assert.Equal((UnixFileMode)0b111_101_101, File.GetUnixFileMode(agent) & (UnixFileMode)0b111_111_111);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_layout.DownloadsDir));
    }

    [Fact]
    public void WithoutACompactFormBesideTheArchivePublishListsNoneAndSaysSo()
    {
        var result = Publish("1.0.0", Package("1.0.0", "one", compact: false));

        Assert.Null(result.Manifest.Releases.Single().Artifacts["linux-x64"].Compact);
        Assert.Contains(_feed.Log, l => l.Contains("no compact form beside", StringComparison.Ordinal));
        Assert.DoesNotContain(Directory.EnumerateFiles(_feed.File("agent/1.0.0")), f => f.EndsWith(".br", StringComparison.Ordinal));
    }

    [Fact]
    public void ACompactFormThatHoldsAnotherTarIsRefusedAndNothingIsWritten()
    {
        var archive = Package("1.0.0", "one");
        var other = Package("1.0.0", "two");
        File.Copy(ArchiveBuilder.CompactPathOf(other, "linux-x64")!, ArchiveBuilder.CompactPathOf(archive, "linux-x64")!, overwrite: true);

        var e = Assert.Throws<BelayException>(() => Publish("1.0.0", archive));

        Assert.Contains("does not hold the same tar", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_feed.File("agent/1.0.0")) && Directory.EnumerateFileSystemEntries(_feed.File("agent/1.0.0")).Any());
        Assert.False(File.Exists(_feed.File(FeedLayout.ChannelFile("stable"))));
    }

    [Fact]
    public async Task ACompactFileSwappedOnTheServerIsRefusedByItsSignedHash()
    {
        var first = Publish("1.0.0", Package("1.0.0", "one")).Manifest.Releases.Single().Artifacts["linux-x64"].Compact!;
        var second = Publish("1.0.1", Package("1.0.1", "two")).Manifest.Releases.Single(r => r.Version == "1.0.1").Artifacts["linux-x64"].Compact!;
        // A mirror serves 1.0.1's compact file (validly signed) at 1.0.0's path.
        File.Copy(_feed.File(second.Path), _feed.File(first.Path), overwrite: true);
        File.Copy(_feed.File(second.Path) + ".minisig", _feed.File(first.Path) + ".minisig", overwrite: true);

        var (source, release) = await Release("1.0.0");
        var e = await Assert.ThrowsAsync<BelayException>(() => Stager.StageAsync(source, release, "linux-x64", _layout, _ => { }, Ct));

        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.False(File.Exists(_layout.AgentExe("1.0.0")));
    }

    [Fact]
    public async Task ACompactEntryThatPointsAtAnotherVersionsOrRidsFileIsRefused()
    {
        Publish("1.0.0", Package("1.0.0", "one"));
        var other = Publish("1.0.1", Package("1.0.1", "two")).Manifest.Releases.Single(r => r.Version == "1.0.1").Artifacts["linux-x64"];
        var (source, _) = await Release("1.0.0");
        foreach (var (rid, compact) in new[]
        {
            ("linux-x64", other.Compact!),
            ("linux-x64", new ArtifactEntry { Path = "agent/1.0.0/belay-agent-1.0.0-linux-x64.tar.br", Sha256 = other.Compact!.Sha256, Size = other.Compact.Size }),
            ("linux-x64", new ArtifactEntry { Path = "agent/1.0.0/other-agent-1.0.0-linux-x64.tar.x86.br", Sha256 = other.Compact.Sha256, Size = other.Compact.Size }),
        })
        {
            var release = new ReleaseEntry
            {
                Version = "1.0.0",
                Artifacts = { [rid] = new ArtifactEntry { Path = FeedLayout.AgentArchive("1.0.0", rid), Sha256 = other.Sha256, Size = other.Size, Compact = compact } },
            };
            var e = await Assert.ThrowsAsync<BelayException>(() => Stager.StageAsync(source, release, rid, _layout, _ => { }, Ct));
            Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
            Assert.Contains("refusing an artifact of another version, RID or product", e.Message, StringComparison.Ordinal);
        }
        Assert.False(Directory.Exists(_layout.VersionsDir) && Directory.EnumerateFileSystemEntries(_layout.VersionsDir).Any());
    }

    [Fact]
    public void AManifestWithAMalformedCompactEntryOrACompactBootstrapIsRefused()
    {
        var good = new ArtifactEntry { Path = FeedLayout.AgentArchive("1.0.0", "linux-x64"), Sha256 = new string('a', 64), Size = 10 };
        foreach (var (entry, bootstrap, problem) in new (ArtifactEntry, ArtifactEntry?, string)[]
        {
            (new() { Path = good.Path, Sha256 = good.Sha256, Size = 10, Compact = new() { Path = "../x.tar.x86.br", Sha256 = good.Sha256, Size = 5 } },
                null, "compact archive: path '../x.tar.x86.br'"),
            (new() { Path = good.Path, Sha256 = good.Sha256, Size = 10, Compact = new() { Path = "agent/1.0.0/a.tar.x86.br", Sha256 = "XYZ", Size = 5 } },
                null, "compact archive: sha256 'XYZ'"),
            (new() { Path = good.Path, Sha256 = good.Sha256, Size = 10, Compact = new() { Path = "agent/1.0.0/a.tar.x86.br", Sha256 = good.Sha256, Size = 0 } },
                null, "compact archive: size 0"),
            (good, new() { Path = "bootstrap/1.0.0/belay-linux-x64", Sha256 = good.Sha256, Size = 10, Compact = good }, "only agent archives have a compact form"),
        })
        {
            var manifest = _feed.Manifest(1);
            manifest.Releases[0].Artifacts["linux-x64"] = entry;
            if (bootstrap is not null)
            {
                manifest.Releases[0].Bootstrap = new() { ["linux-x64"] = bootstrap };
            }
            var e = Assert.Throws<BelayException>(() => FeedTrust.VerifyManifest(FeedJson.Serialize(manifest), _feed.ReleaseKey.Sign(FeedJson.Serialize(manifest)).ToFileBytes(),
                FeedJson.ParseRoot(File.ReadAllBytes(_feed.File(FeedLayout.RootFile)), "root.json"), "stable", _feed.Clock.GetUtcNow(), 0, "stable.json"));
            Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
            Assert.Contains(problem, e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task AFeedCopiedWithoutItsCompactFilesStillInstallsFromTheTarGz()
    {
        var entry = Publish("1.0.0", Package("1.0.0", "one")).Manifest.Releases.Single().Artifacts["linux-x64"];
        File.Delete(_feed.File(entry.Compact!.Path));
        var log = new List<string>();

        var (source, release) = await Release("1.0.0");
        var agent = await Stager.StageAsync(source, release, "linux-x64", _layout, log.Add, Ct);

        Assert.Contains("echo one", File.ReadAllText(agent), StringComparison.Ordinal);
        Assert.Contains(log, l => l.StartsWith("the compact archive could not be downloaded", StringComparison.Ordinal) && l.Contains("was not found", StringComparison.Ordinal));
        Assert.Contains(log, l => l.Contains(entry.Sha256, StringComparison.Ordinal)); // staged from the .tar.gz, its hash verified
    }

    [Fact]
    public async Task VerifyFeedChecksTheCompactFormsPathSignatureAndThatItHoldsTheSameTar()
    {
        Publish("1.0.0", Package("1.0.0", "one"));
        Assert.True((await Verify()).Ok);

        // A release key holder lists a compact file of other content (validly signed, its own hash and size): hosts
        // would stage it, so verify-feed must catch it.
        var other = Package("1.0.0", "two");
        var otherCompact = ArchiveBuilder.CompactPathOf(other, "linux-x64")!;
        var manifest = FeedJson.ParseManifest(File.ReadAllBytes(_feed.File(FeedLayout.ChannelFile("stable"))), "stable.json");
        var compact = manifest.Releases[0].Artifacts["linux-x64"].Compact!;
        File.Copy(otherCompact, _feed.File(compact.Path), overwrite: true);
        File.WriteAllBytes(_feed.File(compact.Path) + ".minisig", _feed.ReleaseKey.Sign(File.ReadAllBytes(otherCompact)).ToFileBytes());
        compact.Sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(otherCompact)));
        compact.Size = new FileInfo(otherCompact).Length;
        manifest.Sequence++;
        _feed.WriteManifest(manifest, _feed.ReleaseKey);
        var lines = new List<string>();
        var result = await Verify(lines);
        Assert.Equal(ExitCodes.TrustFailure, result.ExitCode);
        Assert.Contains(lines, l => l.StartsWith("FAIL", StringComparison.Ordinal) && l.Contains("does not hold the same tar as", StringComparison.Ordinal));

        // Listed at another path than hosts expect.
        compact.Path = "agent/1.0.0/belay-agent-1.0.0-linux-x64.tar.br";
        manifest.Sequence++;
        _feed.WriteManifest(manifest, _feed.ReleaseKey);
        lines.Clear();
        result = await Verify(lines);
        Assert.Equal(ExitCodes.TrustFailure, result.ExitCode);
        Assert.Contains(lines, l => l.Contains("is listed as agent/1.0.0/belay-agent-1.0.0-linux-x64.tar.br, not agent/1.0.0/belay-agent-1.0.0-linux-x64.tar.x86.br", StringComparison.Ordinal));
    }

    [Fact]
    public void TheSameVersionPublishedToAnotherChannelKeepsItsCompactFileWhenItHoldsTheSameTar()
    {
        var archive = Package("1.0.0", "one");
        Publish("1.0.0", archive);
        var published = File.ReadAllBytes(_feed.File("agent/1.0.0/belay-agent-1.0.0-linux-x64.tar.x86.br"));
        // The same tar compressed otherwise (Best instead of Fast) beside the same .tar.gz.
        var input = _feed.Combine("publish-1.0.0-one");
        File.WriteAllBytes(ArchiveBuilder.CompactPathOf(archive, "linux-x64")!,
            CompactArchive.Encode(TarOf(archive), CompactArchive.X86Extension, CompactArchive.Level.Best));
        Assert.NotEqual(published, File.ReadAllBytes(ArchiveBuilder.CompactPathOf(archive, "linux-x64")!));

        var beta = _feed.Publisher.Publish(new PublishRequest(_feed.Root, "beta", "1.0.0", new Dictionary<string, string> { ["linux-x64"] = archive },
            new Dictionary<string, string>(), _feed.ReleaseKey));

        Assert.Equal(published, File.ReadAllBytes(_feed.File("agent/1.0.0/belay-agent-1.0.0-linux-x64.tar.x86.br")));
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(published)), beta.Manifest.Releases.Single().Artifacts["linux-x64"].Compact!.Sha256);
        Assert.True(Directory.Exists(input));
    }

    [Fact]
    public void PackagingWithoutACompactFormRemovesAStaleOneSoPublishCannotPairItWithTheNewArchive()
    {
        var archive = Package("1.0.0", "one");
        var stale = ArchiveBuilder.CompactPathOf(archive, "linux-x64")!;
        Assert.True(File.Exists(stale));
        var input = _feed.Combine("publish-1.0.0-one");
        File.AppendAllText(Path.Combine(input, "belay-agent"), "changed");

        var (_, compact) = ArchiveBuilder.CreateWithCompact(input, archive, "linux-x64", ArchiveBuilder.EntryTime(null), level: null);

        Assert.Null(compact);
        Assert.False(File.Exists(stale));
        Assert.Null(Publish("1.0.0", archive).Manifest.Releases.Single().Artifacts["linux-x64"].Compact);
    }

    private async Task<FeedVerifier.Result> Verify(List<string>? lines = null)
    {
        var source = FeedSource.Open(_feed.Root);
        return await new FeedVerifier(source, [_feed.RootKey.PublicKey], (lines ?? []).Add, _feed.Clock).VerifyAsync(null, 0, Ct);
    }

    private static byte[] TarOf(string archive)
    {
        using var gz = new System.IO.Compression.GZipStream(File.OpenRead(archive), System.IO.Compression.CompressionMode.Decompress);
        using var tar = new MemoryStream();
        gz.CopyTo(tar);
        return tar.ToArray();
    }

    [Fact]
    public void OlderHostsReadAManifestWithACompactEntryAsBefore()
    {
        // An agent built before the compact form parses the manifest with unknown fields skipped: the .tar.gz entry is
        // unchanged, and the compact entry is only an extra field beside it.
        var result = Publish("1.0.0", Package("1.0.0", "one"));
        var json = System.Text.Encoding.UTF8.GetString(File.ReadAllBytes(_feed.File(FeedLayout.ChannelFile("stable"))));
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        var artifact = doc.RootElement.GetProperty("releases")[0].GetProperty("artifacts").GetProperty("linux-x64");
        Assert.Equal(FeedLayout.AgentArchive("1.0.0", "linux-x64"), artifact.GetProperty("path").GetString());
        Assert.Equal(result.Manifest.Releases[0].Artifacts["linux-x64"].Sha256, artifact.GetProperty("sha256").GetString());
        Assert.Equal("agent/1.0.0/belay-agent-1.0.0-linux-x64.tar.x86.br", artifact.GetProperty("compact").GetProperty("path").GetString());
    }
}
