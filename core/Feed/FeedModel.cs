using System.Text.Json;
using System.Text.Json.Serialization;

namespace Belay.Core.Feed;

/// <summary>
/// root.json: the keys a feed trusts. Signed by a threshold of its own root keys; lists
/// the release keys that may sign channel manifests and the deploy keys that may sign group
/// documents (DESIGN.md, "Trust chain" and "Deployments"). The two roles never share a key:
/// whoever deploys apps cannot ship an agent, and the other way round.
/// </summary>
public sealed class RootDocument
{
    public int Schema { get; set; } = 1;
    public string Type { get; set; } = "root";
    public string Product { get; set; } = FeedLayout.DefaultProduct;

    /// <summary>Grows by one with every root rotation.</summary>
    public long Version { get; set; } = 1;
    public DateTimeOffset Expires { get; set; }
    public KeyRole Root { get; set; } = new();
    public KeyRole Release { get; set; } = new();

    /// <summary>
    /// The keys allowed to sign groups/&lt;group&gt;.json; null in a feed that does not deploy apps
    /// (and in every root written before the role existed, whose bytes stay as they were).
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public KeyRole? Deploy { get; set; }
}

/// <summary>A set of minisign public keys (base64 lines) and how many of them must sign.</summary>
public sealed class KeyRole
{
    public int Threshold { get; set; } = 1;
    public List<string> Keys { get; set; } = [];
}

/// <summary>channels/&lt;channel&gt;.json: the signed list of releases on one channel.</summary>
public sealed class ChannelManifest
{
    public int Schema { get; set; } = 1;
    public string Product { get; set; } = FeedLayout.DefaultProduct;
    public string Channel { get; set; } = "";

    /// <summary>Only grows; a client never accepts a lower sequence than it has seen.</summary>
    public long Sequence { get; set; }

    /// <summary>After this instant a client stops believing the manifest (bounds a replay).</summary>
    public DateTimeOffset Expires { get; set; }
    public List<ReleaseEntry> Releases { get; set; } = [];
}

public sealed class ReleaseEntry
{
    public string Version { get; set; } = "";
    public DateTimeOffset Published { get; set; }
    public Rollout Rollout { get; set; } = new();

    /// <summary>Agent archives by RID.</summary>
    public Dictionary<string, ArtifactEntry> Artifacts { get; set; } = [];

    /// <summary>Bootstrapper (belay) binaries by RID, for install.sh and install.ps1.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, ArtifactEntry>? Bootstrap { get; set; }

    /// <summary>
    /// When the publisher withdrew this release (belay-release yank), or null. A yanked release is
    /// never installed or updated to; hosts already on it keep it until a newer release comes.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? Yanked { get; set; }
}

public sealed class Rollout
{
    /// <summary>A host is admitted when hash(host id, version) mod 100 &lt; percent.</summary>
    public int Percent { get; set; } = 100;
}

/// <summary>One file of a release, bound by size and hash: the download stops at Size bytes.</summary>
public sealed class ArtifactEntry
{
    /// <summary>Relative to the feed root, with forward slashes.</summary>
    public string Path { get; set; } = "";
    public string Sha256 { get; set; } = "";
    public long Size { get; set; }

    /// <summary>
    /// An agent archive's compact form (docs/feed.md, "The compact archive"): the same tar in fewer bytes, its own
    /// path, hash and size. Hosts that know it download it instead; older ones never read it. Null when the publisher made none.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ArtifactEntry? Compact { get; set; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    AllowTrailingCommas = false,
    Converters = [typeof(UtcTimestampConverter)])]
[JsonSerializable(typeof(RootDocument))]
[JsonSerializable(typeof(ChannelManifest))]
internal sealed partial class FeedJsonContext : JsonSerializerContext;

/// <summary>Reads and writes feed documents (UTF-8 JSON; unknown fields are ignored).</summary>
public static class FeedJson
{
    public static byte[] Serialize(RootDocument root) => WithNewline(JsonSerializer.SerializeToUtf8Bytes(root, FeedJsonContext.Default.RootDocument));
    public static byte[] Serialize(ChannelManifest manifest) => WithNewline(JsonSerializer.SerializeToUtf8Bytes(manifest, FeedJsonContext.Default.ChannelManifest));

    public static RootDocument ParseRoot(ReadOnlySpan<byte> json, string source) =>
        Parse(json, source, FeedJsonContext.Default.RootDocument);

    public static ChannelManifest ParseManifest(ReadOnlySpan<byte> json, string source) =>
        Parse(json, source, FeedJsonContext.Default.ChannelManifest);

    private static T Parse<T>(ReadOnlySpan<byte> json, string source, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
    {
        try
        {
            return JsonSerializer.Deserialize(json, info)
                ?? throw BelayException.Trust($"{source} is empty (null JSON)");
        }
        catch (JsonException e)
        {
            var what = typeof(T) == typeof(RootDocument) ? "root document" : "channel manifest";
            throw BelayException.Trust($"{source} is not a valid {what}: {Belay.Core.IO.SystemErrors.Describe(e)}", e);
        }
    }

    private static byte[] WithNewline(byte[] json) => [.. json, (byte)'\n'];
}

/// <summary>Timestamps as the feed documents them: UTC, whole seconds, "2026-12-10T00:00:00Z".</summary>
internal sealed class UtcTimestampConverter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.GetDateTimeOffset();

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture));
    }
}
