using System.Formats.Tar;
using System.IO.Compression;
using Belay.Core.Deploy;
using Belay.Core.Feed;
using Belay.Core.Hub;
using Belay.Core.Minisign;
using Belay.Core.Publishing;
using Belay.Hub.Feed;
using Belay.TestSupport;

namespace Belay.Hub.Tests.Feed;

/// <summary>
/// Feeds to push, written by the publisher's own code (FeedPublisher) with keys made for the test,
/// and a hub's feed folder (<see cref="FeedPublications"/>) that trusts their root key.
/// </summary>
internal sealed class PushFeeds : IDisposable
{
    private readonly TempDir _dir = new("belay-push-");
    private int _folders;

    public PushFeeds(long maxUpload = FeedHosting.DefaultMaxUploadBytes)
    {
        Hosting = new FeedHosting(_dir.Combine("hub-feed"), [RootKey.PublicKey], maxUpload);
        Publications = new FeedPublications(Hosting, new Serilog.LoggerConfiguration().CreateLogger(), TimeProvider.System);
        Publications.Prepare();
    }

    public MinisignSecretKey RootKey { get; } = MinisignSecretKey.Generate();
    public MinisignSecretKey ReleaseKey { get; } = MinisignSecretKey.Generate();
    public MinisignSecretKey DeployKey { get; } = MinisignSecretKey.Generate();
    public FeedHosting Hosting { get; }
    public FeedPublications Publications { get; }

    /// <summary>The folder the hub serves now (through the current link).</summary>
    public string Served => Hosting.Current;

    /// <summary>A new feed folder: root.json (with the deploy role) and stable with each of <paramref name="versions"/>.</summary>
    public string NewFeed(TimeProvider? clock = null, params string[] versions)
    {
        var feed = _dir.Combine($"feed-{++_folders}");
        Directory.CreateDirectory(feed);
        var publisher = new FeedPublisher(_ => { }, clock);
        publisher.Init(feed, RootKey, [ReleaseKey.PublicKey], deployKeys: [DeployKey.PublicKey]);
        foreach (var version in versions)
        {
            Publish(feed, version, clock);
        }
        return feed;
    }

    public void Publish(string feed, string version, TimeProvider? clock = null, int artifactBytes = 0)
    {
        var archive = _dir.Combine($"agent-{version}-{++_folders}.tar.gz");
        File.WriteAllBytes(archive, artifactBytes == 0 ? System.Text.Encoding.UTF8.GetBytes("agent " + version) : System.Security.Cryptography.RandomNumberGenerator.GetBytes(artifactBytes));
        new FeedPublisher(_ => { }, clock).Publish(new PublishRequest(feed, "stable", version, new Dictionary<string, string> { ["linux-x64"] = archive },
            new Dictionary<string, string>(), ReleaseKey));
    }

    /// <summary>groups/GROUP.json with no apps, signed by <paramref name="signer"/>.</summary>
    public static void WriteGroup(string feed, string group, long sequence, MinisignSecretKey signer)
    {
        var document = new GroupDocument { Group = group, Sequence = sequence, Expires = DateTimeOffset.UtcNow.AddDays(10).AddTicks(-(DateTimeOffset.UtcNow.Ticks % TimeSpan.TicksPerSecond)) };
        var json = document.Serialize();
        var path = Path.Combine(feed, FeedLayout.GroupFile(group));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, json);
        File.WriteAllBytes(path + FeedLayout.SignatureSuffix, signer.Sign(json).ToFileBytes());
    }

    /// <summary>A copy of a feed folder as it is now (to push it again later: a replay).</summary>
    public string Copy(string feed)
    {
        var copy = _dir.Combine($"feed-{++_folders}");
        foreach (var file in Directory.EnumerateFiles(feed, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(copy, Path.GetRelativePath(feed, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        return copy;
    }

    public static byte[] Bundle(string feed)
    {
        using var buffer = new MemoryStream();
        FeedBundle.Create(feed, buffer);
        return buffer.ToArray();
    }

    /// <summary>A .tar.gz written by hand: what a hostile pusher could send.</summary>
    public static byte[] HandMadeBundle(string feed, Action<TarWriter> extra)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var file in Directory.EnumerateFiles(feed, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                tar.WriteEntry(file, Path.GetRelativePath(feed, file));
            }
            extra(tar);
        }
        return buffer.ToArray();
    }

    public Task<FeedPublications.Outcome> PushAsync(byte[] bundle, bool announceLength = true) =>
        Publications.PushAsync(new MemoryStream(bundle), announceLength ? bundle.Length : null, "alice", TestContext.Current.CancellationToken);

    public Task<FeedPublications.Outcome> PushAsync(string feed) => PushAsync(Bundle(feed));

    public static string Describe(FeedPublications.Outcome outcome) =>
        $"{outcome.Status} {outcome.Answer.Code}: {outcome.Answer.Result}{outcome.Answer.Error}\n{string.Join("\n", outcome.Answer.Report)}";

    public void Dispose()
    {
        Publications.Dispose();
        _dir.Dispose();
    }
}
