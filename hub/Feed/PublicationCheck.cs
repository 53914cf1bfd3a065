using Belay.Core;
using Belay.Core.Deploy;
using Belay.Core.Feed;
using Belay.Core.Minisign;

namespace Belay.Hub.Feed;

/// <summary>
/// Whether a pushed feed may be served: everything a host would check, and that it would not go
/// back from what the hub serves now. The checks are the hosts' own (core/Feed, core/Deploy,
/// core/Minisign); this file only puts them in order:
/// <list type="number">
/// <item>only the files a feed has (root.json, root/, channels/, groups/, agent/, bootstrap/, apps/,
///   the install scripts), so that the hub's origin serves nothing a publisher did not sign for;</item>
/// <item><see cref="FeedVerifier"/>, as `belay-release verify-feed`: root.json reached from the hub's
///   trusted root keys through every rotation, and current; each channel manifest signed by a release
///   key of that root, its product and channel, not expired; each artifact's size, SHA-256 and
///   signature; each group document signed by a deploy key, sound, not expired, and its app archives;</item>
/// <item>against the feed served now: root.json's version not lower, and the new root reachable from
///   the served one (a host that trusts it must follow); each channel and group still there, its
///   sequence not lower, and an equal sequence only with the same bytes (the host checks with the
///   served sequence as its watermark, <see cref="FeedTrust.VerifyManifest"/>, <see cref="GroupTrust.Verify"/>).</item>
/// </list>
/// It goes on after a failure so that one push names every problem.
/// </summary>
internal static class PublicationCheck
{
    private static readonly HashSet<string> TopFiles = new(StringComparer.Ordinal)
    {
        FeedLayout.RootFile, FeedLayout.RootFile + FeedLayout.SignatureSuffix,
        "install.sh", "install.sh" + FeedLayout.SignatureSuffix, "install.ps1", "install.ps1" + FeedLayout.SignatureSuffix,
    };

    private static readonly HashSet<string> TopFolders = new(StringComparer.Ordinal) { "root", "channels", "groups", "agent", "bootstrap", "apps" };

    public sealed record Outcome(int Checked, IReadOnlyList<BelayException> Failures);

    /// <param name="staged">The pushed feed, unpacked.</param>
    /// <param name="served">The feed served now, or null when there is none yet.</param>
    public static async Task<Outcome> RunAsync(string staged, string? served, IReadOnlyCollection<MinisignPublicKey> rootKeys, DateTimeOffset now,
        Action<string> report, CancellationToken cancellationToken)
    {
        var failures = new List<BelayException>();
        var count = 0;
        foreach (var file in Files(staged))
        {
            if (Problem(file) is { } problem)
            {
                count++;
                failures.Add(BelayException.Trust($"{file}: {problem}"));
                report($"FAIL  {file}: {problem}");
            }
        }
        if (failures.Count > 0)
        {
            return new Outcome(count, failures);
        }
        report("ok    only feed files (root.json, root/, channels/, groups/, agent/, bootstrap/, apps/, install scripts)");
        count++;

        using var source = new DirectoryFeedSource(staged);
        var clock = new FixedClock(now);
        var verified = await new FeedVerifier(source, rootKeys, report, clock).VerifyAsync(null, 0, cancellationToken).ConfigureAwait(false);
        count += verified.Checked;
        failures.AddRange(verified.Failures);
        if (failures.Count > 0 || served is null || !File.Exists(Path.Combine(served, FeedLayout.RootFile)))
        {
            return new Outcome(count, failures);
        }

        using var before = new DirectoryFeedSource(served);
        async Task Check(string what, Func<Task> check)
        {
            count++;
            try
            {
                await check().ConfigureAwait(false);
                report($"ok    {what}");
            }
            catch (BelayException e)
            {
                failures.Add(e);
                report($"FAIL  {what}: {e.Message}");
            }
        }

        RootDocument? root = null;
        await Check("root.json does not go back from the one served, and follows from it", async () =>
        {
            var servedJson = await before.ReadAsync(FeedLayout.RootFile, FeedSource.MetadataLimit, cancellationToken).ConfigureAwait(false);
            var servedRoot = RootTrust.Parse(servedJson, "the served root.json");
            var newJson = await source.ReadAsync(FeedLayout.RootFile, FeedSource.MetadataLimit, cancellationToken).ConfigureAwait(false);
            var newRoot = RootTrust.Parse(newJson, source.Describe(FeedLayout.RootFile));
            if (newRoot.Version < servedRoot.Version)
            {
                throw BelayException.Trust($"root.json is version {newRoot.Version}, older than version {servedRoot.Version} that the hub serves: refusing a rolled-back root (push the feed folder that has the newest root)");
            }
            if (newRoot.Version == servedRoot.Version && !newJson.AsSpan().SequenceEqual(servedJson))
            {
                throw BelayException.Trust($"root.json version {newRoot.Version} differs from the version {servedRoot.Version} the hub serves: a root version never changes; rotate to the next one (belay-release root rotate)");
            }
            // As a host that trusts the served root walks on: every rotation signed by the old and the new keys.
            var walk = await RootChain.UpdateAsync(source, new TrustedRoot(servedRoot, servedJson), rootKeys, 0, now, int.MaxValue, cancellationToken).ConfigureAwait(false);
            root = walk.Root.Document;
        }).ConfigureAwait(false);
        if (root is null)
        {
            return new Outcome(count, failures);
        }

        foreach (var channel in before.ListChannels())
        {
            var file = FeedLayout.ChannelFile(channel);
            await Check($"{file}: sequence not lower than the one served", async () =>
            {
                var servedJson = await before.ReadAsync(file, FeedSource.MetadataLimit, cancellationToken).ConfigureAwait(false);
                var servedSequence = FeedJson.ParseManifest(servedJson, "the served " + file).Sequence;
                var (json, sig) = await ReadSignedAsync(source, file, $"channel {channel}, which the hub serves", cancellationToken).ConfigureAwait(false);
                var manifest = FeedTrust.VerifyManifest(json, sig, root, channel, now, servedSequence, source.Describe(file));
                SameSequenceSameBytes(file, manifest.Sequence, servedSequence, json, servedJson);
            }).ConfigureAwait(false);
        }
        foreach (var group in before.ListGroups())
        {
            var file = FeedLayout.GroupFile(group);
            await Check($"{file}: sequence not lower than the one served", async () =>
            {
                var servedJson = await before.ReadAsync(file, FeedSource.MetadataLimit, cancellationToken).ConfigureAwait(false);
                var servedSequence = GroupDocument.Parse(servedJson, "the served " + file).Sequence;
                var (json, sig) = await ReadSignedAsync(source, file, $"group {group}, which the hub serves", cancellationToken).ConfigureAwait(false);
                var document = GroupTrust.Verify(json, sig, root, group, now, servedSequence, source.Describe(file));
                SameSequenceSameBytes(file, document.Sequence, servedSequence, json, servedJson);
            }).ConfigureAwait(false);
        }
        return new Outcome(count, failures);
    }

    /// <summary>Why a pushed file is not one a feed has, or null.</summary>
    internal static string? Problem(string file)
    {
        if (!FeedLayout.IsSafeRelativePath(file))
        {
            return "not a plain relative path inside the feed";
        }
        var slash = file.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            return TopFiles.Contains(file) ? null : "not a file a feed has at its top (root.json, install.sh, install.ps1 and their signatures)";
        }
        var folder = file[..slash];
        if (!TopFolders.Contains(folder))
        {
            return $"'{folder}/' is not a folder a feed has (root/, channels/, groups/, agent/, bootstrap/, apps/)";
        }
        if (folder is "channels" or "groups" && (file.IndexOf('/', slash + 1) >= 0
            || !(file.EndsWith(".json", StringComparison.Ordinal) || file.EndsWith(".json" + FeedLayout.SignatureSuffix, StringComparison.Ordinal))))
        {
            return $"{folder}/ holds NAME.json and NAME.json.minisig only";
        }
        return null;
    }

    private static void SameSequenceSameBytes(string file, long sequence, long servedSequence, byte[] json, byte[] servedJson)
    {
        if (sequence == servedSequence && !json.AsSpan().SequenceEqual(servedJson))
        {
            throw BelayException.Trust($"{file} has sequence {sequence}, the same as the one served, with other content: hosts that have it would never take this one; publish again (sequence + 1)");
        }
    }

    private static async Task<(byte[] Json, byte[] Signature)> ReadSignedAsync(FeedSource source, string file, string what, CancellationToken cancellationToken)
    {
        try
        {
            var json = await source.ReadAsync(file, FeedSource.MetadataLimit, cancellationToken).ConfigureAwait(false);
            var sig = await source.ReadAsync(file + FeedLayout.SignatureSuffix, RootChain.SignatureLimit, cancellationToken).ConfigureAwait(false);
            return (json, sig);
        }
        catch (FeedFileNotFoundException e)
        {
            throw BelayException.Trust($"the pushed feed has no {file}: it would remove {what}; a push carries every channel and group the hub serves", e);
        }
    }

    private static IEnumerable<string> Files(string root) =>
        Directory.EnumerateFiles(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(f => Path.GetRelativePath(root, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Order(StringComparer.Ordinal);

    /// <summary>One instant for every check of a push.</summary>
    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
