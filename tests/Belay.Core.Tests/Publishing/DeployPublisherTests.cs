using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Belay.Core.Deploy;
using Belay.Core.Encryption;
using Belay.Core.Feed;
using Belay.Core.Minisign;
using Belay.Core.Publishing;
using Belay.Core.Tests.Deploy;

namespace Belay.Core.Tests.Publishing;

/// <summary>belay-release deploy and app package, in the library (core/Publishing/FeedPublisher.Deploy.cs, AppArchive.cs).</summary>
public sealed class DeployPublisherTests : IDisposable
{
    private readonly DeployFeed _feed = new();

    public void Dispose() => _feed.Dispose();

    private DeployRequest Request(string? app = "shop", string? version = "1.0", Dictionary<string, string>? artifacts = null, MinisignSecretKey? key = null, string group = "web") =>
        new(_feed.Root, group, key ?? _feed.DeployKey, app, version, artifacts);

    private Dictionary<string, string> FeedFiles() =>
        Directory.EnumerateFiles(_feed.Root, "*", SearchOption.AllDirectories).ToDictionary(f => f, f => Convert.ToHexString(File.ReadAllBytes(f)));

    private GroupDocument Verified(string group = "web")
    {
        var root = RootTrust.Parse(File.ReadAllBytes(_feed.File("root.json")), "root.json");
        var path = _feed.File(FeedLayout.GroupFile(group));
        return GroupTrust.Verify(File.ReadAllBytes(path), File.ReadAllBytes(path + ".minisig"), root, group, _feed.Clock.GetUtcNow(), 0, path);
    }

    [Fact]
    public void ADeployWritesTheSignedArchiveAndTheSignedDocumentWithTheNextSequence()
    {
        var first = _feed.Deploy("web", "shop", "1.0");
        Assert.Equal(1, first.Sequence);
        var archive = _feed.File("apps/shop/1.0/shop-1.0-any.tar.gz");
        Assert.True(File.Exists(archive));
        MinisignVerifier.Verify(_feed.DeployKey.PublicKey, File.ReadAllBytes(archive), MinisignSignature.Parse(File.ReadAllBytes(archive + ".minisig")));
        Assert.Equal(first.Serialize(), Verified().Serialize());
        Assert.Equal(first.Expires, _feed.Clock.GetUtcNow() + FeedPublisher.DefaultGroupLifetime);

        var second = _feed.Deploy("web", "cart", "3.1", rid: "linux-x64");
        Assert.Equal(2, second.Sequence);
        Assert.Equal(["cart", "shop"], second.Apps.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void AFailureAtAnyWriteOfADeployLeavesTheFeedAsItWas()
    {
        _feed.Deploy("web", "shop", "1.0");
        var before = FailingFeedFiles.Snapshot(_feed.Root);
        var archive = _feed.Archive("cart", "2.0", rid: "linux-x64");
        DeployRequest Next(string feed) => new(feed, "web", _feed.DeployKey, "cart", "2.0", new Dictionary<string, string> { ["linux-x64"] = archive });

        // Count the writes of a successful deploy (new folders, the archive, its signature, the document) in a copy...
        var counting = new FailingFeedFiles(failAt: int.MaxValue);
        var copy = _feed.Combine("copy");
        FailingFeedFiles.CopyDirectory(_feed.Root, copy);
        new FeedPublisher(_ => { }, _feed.Clock, counting).Deploy(Next(copy));
        Assert.True(counting.Writes >= 6, $"only {counting.Writes} writes counted");

        // ...then fail at each one in turn: nothing of the deploy stays, not even an empty folder.
        for (var n = 1; n <= counting.Writes; n++)
        {
            var failing = new FailingFeedFiles(failAt: n);
            var e = Record.Exception(() => new FeedPublisher(_ => { }, _feed.Clock, failing).Deploy(Next(_feed.Root)));
            Assert.True(e is IOException or BelayException, $"write {n}: {e}");
            Assert.True(failing.Failed, $"write {n} did not fail");
            Assert.Equal(before, FailingFeedFiles.Snapshot(_feed.Root));
        }
        Assert.Equal(2, _feed.Publisher.Deploy(Next(_feed.Root)).Document.Sequence);
    }

    [Fact]
    public void AnotherArchiveUnderAVersionAlreadyPublishedIsRefusedAndTheFeedIsLeftAsItWas()
    {
        _feed.Deploy("web", "shop", "1.0");
        var before = FeedFiles();
        var other = _feed.Archive("shop", "1.0", marker: "rebuilt");
        var e = Assert.Throws<BelayException>(() => _feed.Publisher.Deploy(Request(artifacts: new() { ["any"] = other }, group: "staging")));
        Assert.Contains("apps/shop/1.0/shop-1.0-any.tar.gz is already published with other content", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, FeedFiles());
    }

    [Fact]
    public void TheSameVersionGoesToAnotherGroupWithTheSameArchiveOrWithoutNamingIt()
    {
        _feed.Deploy("web", "shop", "1.0");
        var same = _feed.Archive("shop", "1.0");
        _feed.Publisher.Deploy(Request(artifacts: new() { ["any"] = same }, group: "staging"));
        _feed.Publisher.Deploy(Request(group: "eu"));
        Assert.Equal(Verified("web").Apps["shop"].Artifacts["any"].Sha256, Verified("eu").Apps["shop"].Artifacts["any"].Sha256);
        Assert.Equal(Verified("web").Apps["shop"].Artifacts["any"].Sha256, Verified("staging").Apps["shop"].Artifacts["any"].Sha256);
        var none = Assert.Throws<BelayException>(() => _feed.Publisher.Deploy(Request(version: "2.0")));
        Assert.Contains("app shop 2.0 has no archive in this feed yet: give --artifact RID=FILE", none.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AKeyOfTheWrongRoleIsRefusedSayingWhichRoleItHas()
    {
        var archive = new Dictionary<string, string> { ["any"] = _feed.Archive("shop", "1.0") };
        var release = Assert.Throws<BelayException>(() => _feed.Publisher.Deploy(Request(artifacts: archive, key: _feed.ReleaseKey)));
        Assert.Equal(ExitCodes.TrustFailure, release.ExitCode);
        Assert.Contains($"key {_feed.ReleaseKey.PublicKey.KeyIdHex} is a release key, which signs channels only: group documents are signed by a deploy key ({_feed.DeployKey.PublicKey.KeyIdHex})", release.Message, StringComparison.Ordinal);
        Assert.Contains("a root key", Assert.Throws<BelayException>(() => _feed.Publisher.Deploy(Request(artifacts: archive, key: _feed.RootKey))).Message, StringComparison.Ordinal);
        Assert.Contains("not a key of this feed", Assert.Throws<BelayException>(() => _feed.Publisher.Deploy(Request(artifacts: archive, key: MinisignSecretKey.Generate()))).Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_feed.File("groups")));

        var agent = _feed.Combine("agent.tar.gz");
        File.WriteAllText(agent, "agent");
        var publish = Assert.Throws<BelayException>(() => _feed.Publisher.Publish(new PublishRequest(_feed.Root, "stable", "1.0.0",
            new Dictionary<string, string> { ["linux-x64"] = agent }, new Dictionary<string, string>(), _feed.DeployKey)));
        Assert.Contains("is a deploy key of this feed: it signs group documents (belay-release deploy), never a channel", publish.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFeedWithoutADeployRoleSaysHowToAddOne()
    {
        using var bare = new DeployFeed(withDeployRole: false);
        var e = Assert.Throws<BelayException>(() => bare.Deploy("web", "shop", "1.0"));
        Assert.Contains("lists no deploy keys: add one with belay-release keygen --role deploy and belay-release root rotate --deploy-key deploy.pub", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SecretsAreEncryptedToTheRecipientAndTheirPlaintextIsInNoFileOfTheFeed()
    {
        const string password = "hunter2-but-longer";
        var document = _feed.Deploy("web", "shop", "1.0", env: new Dictionary<string, string> { ["PORT"] = "8080" },
            secrets: new Dictionary<string, byte[]> { ["DB_PASSWORD"] = Encoding.UTF8.GetBytes(password) });
        var env = AppSecrets.ResolveEnvironment("shop", Verified().Apps["shop"], [_feed.Identity]);
        Assert.Equal(password, env["DB_PASSWORD"]);
        Assert.Equal("8080", env["PORT"]);
        Assert.True(document.Apps["shop"].Env["DB_PASSWORD"].IsSecret);
        foreach (var file in Directory.EnumerateFiles(_feed.Root, "*", SearchOption.AllDirectories))
        {
            Assert.DoesNotContain(password, File.ReadAllText(file, Encoding.Latin1), StringComparison.Ordinal);
        }
        Assert.DoesNotContain(_feed.Log, l => l.Contains(password, StringComparison.Ordinal));

        var noRecipient = Assert.Throws<BelayException>(() => _feed.Publisher.Deploy(Request() with { Secrets = new Dictionary<string, byte[]> { ["X"] = [1] } }));
        Assert.Contains("--secret needs --recipient age1…", noRecipient.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WithoutAnAppTheDocumentIsReSignedUnchangedWithTheNextSequence()
    {
        var first = _feed.Deploy("web", "shop", "1.0", expiresIn: TimeSpan.FromDays(1));
        _feed.Clock.Advance(TimeSpan.FromDays(2));
        var refreshed = _feed.Publisher.Deploy(Request(app: null, version: null)).Document;
        Assert.Equal(2, refreshed.Sequence);
        Assert.Equal(first.Apps["shop"].Artifacts["any"].Sha256, refreshed.Apps["shop"].Artifacts["any"].Sha256);
        Assert.True(refreshed.Expires > _feed.Clock.GetUtcNow());
        Assert.Contains("unchanged, re-signed", _feed.Log.Last(), StringComparison.Ordinal);

        Assert.Contains("has no document yet", Assert.Throws<BelayException>(() => _feed.Publisher.Deploy(Request(app: null, version: null, group: "new"))).Message, StringComparison.Ordinal);
        Assert.Contains("name it with --app", Assert.Throws<BelayException>(() => _feed.Publisher.Deploy(Request(app: null, version: "2"))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StateRolloutUserAndEnvChangesKeepTheRestOfTheEntry()
    {
        _feed.Deploy("web", "shop", "1.0", rollout: 10, env: new Dictionary<string, string> { ["A"] = "1", ["B"] = "2" });
        var stopped = _feed.Publisher.Deploy(Request(version: null) with { State = "stopped", Unset = ["A"], User = "shop" }).Document.Apps["shop"];
        Assert.Equal("stopped", stopped.State);
        Assert.Equal(10, stopped.Rollout.Percent);
        Assert.Equal(["B"], stopped.Env.Keys);
        Assert.Equal("shop", stopped.User);
        Assert.Equal("1.0", stopped.Version);

        var next = _feed.Publisher.Deploy(Request(version: "1.1", artifacts: new() { ["any"] = _feed.Archive("shop", "1.1") })).Document.Apps["shop"];
        Assert.Equal(100, next.Rollout.Percent);
        Assert.Equal("shop", next.User);
        Assert.Equal(["any"], next.Artifacts.Keys);

        var absent = _feed.Publisher.Deploy(Request(version: null) with { State = "absent" }).Document.Apps["shop"];
        Assert.Equal(AppDesiredState.Absent, absent.DesiredState);

        Assert.Contains("is not one of running, stopped, absent", Assert.Throws<BelayException>(() => _feed.Publisher.Deploy(Request(version: null) with { State = "paused" })).Message, StringComparison.Ordinal);
        Assert.Contains("--unset NOPE: app shop has no variable NOPE", Assert.Throws<BelayException>(() => _feed.Publisher.Deploy(Request(version: null) with { Unset = ["NOPE"] })).Message, StringComparison.Ordinal);
        Assert.Contains("'BELAY_X' is not a variable name", Assert.Throws<BelayException>(() => _feed.Publisher.Deploy(Request(version: null) with { Env = new Dictionary<string, string> { ["BELAY_X"] = "1" } })).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ATamperedCurrentDocumentIsNotReSigned()
    {
        _feed.Deploy("web", "shop", "1.0");
        var path = _feed.File("groups/web.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"1.0\"", "\"6.6\"", StringComparison.Ordinal));
        var e = Assert.Throws<BelayException>(() => _feed.Publisher.Deploy(Request(app: null, version: null)));
        Assert.Contains("the group's current document does not verify, so it is not re-signed", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AfterADeployKeyRotationTheOldDocumentIsStillReadAndTheNextIsSignedByTheNewKey()
    {
        _feed.Deploy("web", "shop", "1.0");
        var fresh = MinisignSecretKey.Generate();
        _feed.Rotate(deployKeys: [fresh.PublicKey]);
        Assert.Throws<BelayException>(() => _feed.Publisher.Deploy(Request(app: null, version: null)));
        _feed.DeployKey = fresh;
        var next = _feed.Publisher.Deploy(Request(app: null, version: null)).Document;
        Assert.Equal(2, next.Sequence);
        Assert.Equal(2, Verified().Sequence);
    }

    [Fact]
    public void AnArchiveWithoutAConfigOrWithABadOneIsRefused()
    {
        var bare = _feed.Combine("bare.tar.gz");
        using (var file = File.Create(bare))
        using (var gzip = new GZipStream(file, CompressionLevel.Fastest))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Ustar))
        {
            tar.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, "run.sh") { DataStream = new MemoryStream("x"u8.ToArray()) });
        }
        var missing = Assert.Throws<BelayException>(() => _feed.Publisher.Deploy(Request(artifacts: new() { ["any"] = bare })));
        Assert.Contains("has no belay-app.conf at its top; make the archive with belay-release app package", missing.Message, StringComparison.Ordinal);

        var bad = _feed.Combine("bad.tar.gz");
        using (var file = File.Create(bad))
        using (var gzip = new GZipStream(file, CompressionLevel.Fastest))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Ustar))
        {
            tar.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, "belay-app.conf") { DataStream = new MemoryStream("[app]\nexec = bin/run\nexce = typo\n"u8.ToArray()) });
        }
        var wrong = Assert.Throws<BelayException>(() => _feed.Publisher.Deploy(Request(artifacts: new() { ["any"] = bad })));
        Assert.Contains("bad.tar.gz:belay-app.conf:3", wrong.Message, StringComparison.Ordinal);
        Assert.Contains("exce", wrong.Message, StringComparison.Ordinal);

        var zipForLinux = _feed.Combine("app.zip");
        File.WriteAllText(zipForLinux, "");
        Assert.Contains("must be a .tar.gz file", Assert.Throws<BelayException>(() => _feed.Publisher.Deploy(Request(artifacts: new() { ["linux-x64"] = zipForLinux }))).Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_feed.File("groups")));
    }

    [Fact]
    public void AppPackageIsReproducibleAndKeepsEveryFile()
    {
        var folder = _feed.ReleaseFolder("shop", "1.0");
        File.WriteAllText(Path.Combine(folder, "settings.json"), "{}");
        var a = AppArchive.Create(folder, "shop", "1.0", "any", _feed.Combine("a"), ArchiveBuilder.EntryTime(null));
        File.SetLastWriteTimeUtc(Path.Combine(folder, "settings.json"), DateTime.UtcNow.AddDays(-3));
        var b = AppArchive.Create(folder, "shop", "1.0", "any", _feed.Combine("b"), ArchiveBuilder.EntryTime(null));
        Assert.Equal(File.ReadAllBytes(a.Path), File.ReadAllBytes(b.Path));
        Assert.EndsWith("shop-1.0-any.tar.gz", a.Path, StringComparison.Ordinal);
        Assert.Equal(["belay-app.conf", "bin/run", "settings.json"], a.Files);
        Assert.EndsWith("shop-1.0-win-x64.zip", AppArchive.Create(folder, "shop", "1.0", "win-x64", _feed.Combine("c"), ArchiveBuilder.EntryTime(null)).Path, StringComparison.Ordinal);
    }

    [Fact]
    public void AppPackageChecksTheFolderAsAHostWould()
    {
        var folder = _feed.ReleaseFolder("shop", "1.0");
        var output = _feed.Combine("out");
        File.WriteAllText(Path.Combine(folder, "belay-app.conf"), "[app]\nexec = bin/run\n[hooks]\npost_install = hooks/migrate.sh\n");
        var missingHook = Assert.Throws<BelayException>(() => AppArchive.Create(folder, "shop", "1.0", "any", output, ArchiveBuilder.EntryTime(null)));
        Assert.Contains("post_install: hooks/migrate.sh is not in the release", missingHook.Message, StringComparison.Ordinal);

        File.WriteAllText(Path.Combine(folder, "belay-app.conf"), "[app]\nexec = bin/run\n");
        if (!OperatingSystem.IsWindows())
        {
            File.CreateSymbolicLink(Path.Combine(folder, "link"), "/etc/passwd");
            var link = Assert.Throws<BelayException>(() => AppArchive.Create(folder, "shop", "1.0", "any", output, ArchiveBuilder.EntryTime(null)));
            Assert.Contains("link in", link.Message, StringComparison.Ordinal);
            Assert.Contains("is a symbolic link", link.Message, StringComparison.Ordinal);
            File.Delete(Path.Combine(folder, "link"));
        }
        File.Delete(Path.Combine(folder, "belay-app.conf"));
        Assert.Contains("belay-app.conf: missing", Assert.Throws<AppConfigException>(() => AppArchive.Create(folder, "shop", "1.0", "any", output, ArchiveBuilder.EntryTime(null))).Message, StringComparison.Ordinal);
        Assert.Contains("--name 'Shop' is not an app name", Assert.Throws<BelayException>(() => AppArchive.Create(folder, "Shop", "1.0", "any", output, ArchiveBuilder.EntryTime(null))).Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any());
    }
}
