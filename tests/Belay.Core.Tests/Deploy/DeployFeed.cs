using Belay.Core.Deploy;
using Belay.Core.Encryption;
using Belay.Core.Feed;
using Belay.Core.Minisign;
using Belay.Core.Publishing;
using Belay.TestSupport;

namespace Belay.Core.Tests.Deploy;

/// <summary>
/// A feed with root, release and deploy keys in a temporary folder, a fake clock, app release
/// folders and archives, and a host's state folder: for tests of group documents end to end in
/// the library (publish with <see cref="FeedPublisher.Deploy"/>, read with <see cref="GroupFeedClient"/>).
/// </summary>
internal sealed class DeployFeed : IDisposable
{
    private readonly TempDir _dir = new("belay-deploy-");

    public DeployFeed(bool withDeployRole = true)
    {
        Directory.CreateDirectory(Root);
        Directory.CreateDirectory(State);
        Publisher.Init(Root, RootKey, [ReleaseKey.PublicKey], deployKeys: withDeployRole ? [DeployKey.PublicKey] : null);
    }

    public FakeClock Clock { get; } = new();
    public MinisignSecretKey RootKey { get; } = MinisignSecretKey.Generate();
    public MinisignSecretKey ReleaseKey { get; } = MinisignSecretKey.Generate();
    public MinisignSecretKey DeployKey { get; set; } = MinisignSecretKey.Generate();
    public AgeIdentity Identity { get; } = AgeIdentity.Generate();
    public List<string> Log { get; } = [];
    public string Root => _dir.Combine("feed");
    public string State => _dir.Combine("state");
    public string TrustFile => Path.Combine(State, "trust.json");
    public string WatermarkFile => Path.Combine(State, "groups.json");
    public FeedPublisher Publisher => new(Log.Add, Clock);

    public string Combine(params string[] parts) => _dir.Combine(parts);

    public string File(string relative) => Path.Combine(Root, relative);

    /// <summary>A release folder: belay-app.conf and an executable bin/run that prints <paramref name="marker"/>.</summary>
    public string ReleaseFolder(string app, string version, string marker = "")
    {
        var folder = _dir.Combine("src", app, version);
        Directory.CreateDirectory(Path.Combine(folder, "bin"));
        System.IO.File.WriteAllText(Path.Combine(folder, "belay-app.conf"), "[app]\nexec = bin/run\n");
        var run = Path.Combine(folder, "bin", "run");
        System.IO.File.WriteAllText(run, $"#!/bin/sh\necho {app} {version} {marker}\nexec sleep 1000\n");
        if (!OperatingSystem.IsWindows())
        {
            System.IO.File.SetUnixFileMode(run, (UnixFileMode)0b111_101_101);
        }
        return folder;
    }

    /// <summary>The packaged archive of a release folder (reproducible).</summary>
    public string Archive(string app, string version, string rid = FeedLayout.AnyRid, string marker = "")
    {
        var output = _dir.Combine("archives", marker.Length == 0 ? "plain" : marker);
        Directory.CreateDirectory(output);
        return AppArchive.Create(ReleaseFolder(app, version, marker), app, version, rid, output, ArchiveBuilder.EntryTime(null)).Path;
    }

    /// <summary>Deploys <paramref name="app"/> at <paramref name="version"/> to <paramref name="group"/> with a freshly packaged archive.</summary>
    public GroupDocument Deploy(string group, string app, string version, string rid = FeedLayout.AnyRid, int? rollout = null,
        IReadOnlyDictionary<string, string>? env = null, IReadOnlyDictionary<string, byte[]>? secrets = null, string? state = null,
        MinisignSecretKey? key = null, TimeSpan? expiresIn = null) =>
        Publisher.Deploy(new DeployRequest(Root, group, key ?? DeployKey, app, version,
            new Dictionary<string, string> { [rid] = Archive(app, version, rid) }, env, secrets,
            secrets is null ? null : [Identity.Recipient], null, state, rollout, null, expiresIn)).Document;

    /// <summary>Writes a group document as given, signed by <paramref name="key"/>: what an attacker holding that key could serve.</summary>
    public void WriteGroup(GroupDocument document, MinisignSecretKey key, string? asGroup = null)
    {
        var json = document.Serialize();
        var path = File(FeedLayout.GroupFile(asGroup ?? document.Group));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllBytes(path, json);
        System.IO.File.WriteAllBytes(path + ".minisig", key.Sign(json).ToFileBytes());
    }

    public GroupFeedClient Client(string group = "web", IReadOnlyList<string>? feeds = null, string? watermarkFile = "", IReadOnlyList<MinisignPublicKey>? pinned = null,
        TransferLimits? limits = null)
    {
        var sources = (feeds ?? [Root]).Select(f => FeedSource.Open(f)).ToList();
        foreach (var source in sources)
        {
            source.Limits = limits ?? TransferLimits.Default;
        }
        return new GroupFeedClient(sources, pinned ?? [RootKey.PublicKey], FeedLayout.DefaultProduct, group, TrustFile,
            watermarkFile == "" ? WatermarkFile : watermarkFile, Clock);
    }

    public RootDocument Rotate(IReadOnlyList<MinisignPublicKey>? deployKeys = null, IReadOnlyList<MinisignPublicKey>? releaseKeys = null) =>
        Publisher.Rotate(new RotateRequest(Root, [RootKey], null, null, releaseKeys, null, deployKeys));

    public void Dispose() => _dir.Dispose();
}
