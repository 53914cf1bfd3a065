namespace Belay.Core.Feed;

/// <summary>Where things live in a feed (DESIGN.md, "The feed"), and the names it accepts.</summary>
public static class FeedLayout
{
    public const string DefaultProduct = "belay-agent";
    public const string DefaultChannel = "stable";
    public const string RootFile = "root.json";
    public const string SignatureSuffix = ".minisig";
    public const string ChecksumsFile = "SHA256SUMS";

    public static string ChannelFile(string channel) => $"channels/{channel}.json";

    /// <summary>Every root version ever published, kept for hosts that walk the rotation chain: root/&lt;N&gt;.json.</summary>
    public static string RootVersionFile(long version) => $"root/{version}.json";

    /// <summary>
    /// One signature of a root version by one key: root/&lt;N&gt;.json.&lt;KEYID&gt;.minisig (the key id as
    /// minisign prints it), checkable with <c>minisign -V -m root/N.json -x root/N.json.KEYID.minisig</c>.
    /// </summary>
    public static string RootKeySignature(long version, Minisign.MinisignPublicKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return $"{RootVersionFile(version)}.{key.KeyIdHex}{SignatureSuffix}";
    }

    /// <summary>The archive format a RID ships in: .zip on Windows, .tar.gz elsewhere.</summary>
    public static string ArchiveExtension(string rid) => rid.StartsWith("win-", StringComparison.Ordinal) ? ".zip" : ".tar.gz";

    public static string AgentArchive(string version, string rid) =>
        $"agent/{version}/{DefaultProduct}-{version}-{rid}{ArchiveExtension(rid)}";

    /// <summary>
    /// The compact form of the agent archive (docs/feed.md, "The compact archive"): the same tar, Brotli-compressed,
    /// branch-filtered for x64 and ARM64 RIDs: agent/&lt;version&gt;/belay-agent-&lt;version&gt;-&lt;rid&gt;.tar.x86.br (.tar.a64.br for
    /// ARM64, .tar.br for other Unix RIDs); null for Windows RIDs, which ship the .zip only.
    /// </summary>
    public static string? AgentCompactArchive(string version, string rid) =>
        Archives.CompactArchive.ExtensionFor(rid) is { } extension ? $"agent/{version}/{DefaultProduct}-{version}-{rid}{extension}" : null;

    public static string BootstrapBinary(string version, string rid) =>
        $"bootstrap/{version}/belay-{rid}{(rid.StartsWith("win-", StringComparison.Ordinal) ? ".exe" : "")}";

    /// <summary>The gzip copy of a bootstrapper that install.sh downloads: the binary's path + ".gz" (Linux and macOS RIDs).</summary>
    public const string GzipSuffix = ".gz";

    public static string BootstrapChecksums(string version) => $"bootstrap/{version}/{ChecksumsFile}";

    /// <summary>The desired state of one group of hosts, signed by a deploy key: groups/&lt;group&gt;.json.</summary>
    public static string GroupFile(string group) => $"groups/{group}.json";

    /// <summary>The RID of an app archive that runs on every platform (a script, a JVM or .NET app).</summary>
    public const string AnyRid = "any";

    /// <summary>
    /// An app's archive: apps/&lt;app&gt;/&lt;version&gt;/&lt;app&gt;-&lt;version&gt;-&lt;rid|any&gt;.tar.gz (.zip for win-*).
    /// A group document must point each RID at exactly this path (no mix and match).
    /// </summary>
    public static string AppArchive(string app, string version, string rid) =>
        $"apps/{app}/{version}/{app}-{version}-{rid}{ArchiveExtension(rid)}";

    /// <summary>
    /// RIDs as .NET spells them: linux-x64, linux-musl-arm64, osx-arm64, win-x64, illumos-x64: a
    /// lower-case letter, then at least two '-'-separated parts of lower-case letters and digits.
    /// (Checked by hand rather than with a Regex: these two checks were all that linked the Regex
    /// engine into the agent; docs/architecture.md, "Footprint".)
    /// </summary>
    public static bool IsValidRid(string rid)
    {
        ArgumentNullException.ThrowIfNull(rid);
        if (rid.Length == 0 || rid[0] is < 'a' or > 'z')
        {
            return false;
        }
        var parts = rid.Split('-');
        return parts.Length >= 2 && parts.All(p => p.Length > 0 && p.All(IsLowerAlphanumeric));
    }

    /// <summary>Channel names: 1 to 64 lower-case letters, digits, '-', '_' and '.', not starting with '.'.</summary>
    public static bool IsValidChannel(string channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        return channel.Length is >= 1 and <= 64 && channel[0] != '.' && channel.All(c => IsLowerAlphanumeric(c) || c is '.' or '_' or '-');
    }

    private static bool IsLowerAlphanumeric(char c) => c is (>= 'a' and <= 'z') or (>= '0' and <= '9');

    /// <summary>
    /// A path inside the feed, as a manifest names it: relative, forward slashes, no empty,
    /// '.' or '..' segments, no drive or backslash. Anything else could point a client
    /// outside the feed.
    /// </summary>
    public static bool IsSafeRelativePath(string path)
    {
        if (string.IsNullOrEmpty(path) || path.Length > 1024 || path[0] == '/' || path.Contains('\\', StringComparison.Ordinal) ||
            path.Contains(':', StringComparison.Ordinal) || path.Any(char.IsControl))
        {
            return false;
        }
        return path.Split('/').All(s => s.Length > 0 && s != "." && s != "..");
    }
}
