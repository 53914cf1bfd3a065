using System.Text.Json;
using System.Text.Json.Serialization;
using Belay.Core.Feed;
using Belay.Core.IO;

namespace Belay.Core.Deploy;

/// <summary>
/// groups.json in the state folder: for each group a host has read, the highest sequence it
/// verified and the deploy keys it was verified under, replaced atomically in one write
/// (like trust.json's manifest watermark, docs/trust.md). A host that moves to another group
/// and back keeps both watermarks. The watermark only grows, with one exception: a root
/// rotation that changes the deploy keys starts over from 0 (fast-forward recovery after a
/// stolen deploy key pushed the sequence sky-high: documents of the stolen key no longer
/// verify, so nothing older can come back through the reset).
/// </summary>
public sealed class GroupWatermarks
{
    private readonly string? _path;
    private readonly WatermarkFile _file;

    private GroupWatermarks(string? path, WatermarkFile file)
    {
        _path = path;
        _file = file;
    }

    /// <summary>Reads <paramref name="path"/> (null: keep the watermarks in memory only). A missing or unreadable file is empty.</summary>
    public static GroupWatermarks Load(string? path)
    {
        WatermarkFile? file = null;
        if (path is not null)
        {
            try
            {
                file = JsonSerializer.Deserialize(File.ReadAllBytes(path), WatermarkJsonContext.Default.WatermarkFile);
            }
            catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
            {
                file = null;
            }
        }
        return new GroupWatermarks(path, file is { Schema: 1, Groups: not null } ? file : new WatermarkFile());
    }

    /// <summary>The highest sequence seen for <paramref name="group"/>, whatever the keys (0 when never seen).</summary>
    public long Seen(string group) => _file.Groups.TryGetValue(group, out var entry) ? entry.Sequence : 0;

    /// <summary>The lowest sequence <paramref name="group"/> may have under <paramref name="root"/>: what was seen, unless the deploy keys changed since.</summary>
    public long Minimum(string group, RootDocument root)
    {
        ArgumentNullException.ThrowIfNull(root);
        return _file.Groups.TryGetValue(group, out var entry) && SameKeys(entry.DeployKeys, root) ? entry.Sequence : 0;
    }

    /// <summary>Records that <paramref name="sequence"/> of <paramref name="group"/> verified under <paramref name="root"/>; written to disk at once when it changes anything.</summary>
    public void Record(string group, long sequence, RootDocument root)
    {
        ArgumentNullException.ThrowIfNull(root);
        var keys = (root.Deploy?.Keys ?? []).Order(StringComparer.Ordinal).ToList();
        var next = Math.Max(sequence, Minimum(group, root));
        if (_file.Groups.TryGetValue(group, out var entry) && entry.Sequence == next && entry.DeployKeys.SequenceEqual(keys))
        {
            return;
        }
        _file.Groups[group] = new WatermarkEntry { Sequence = next, DeployKeys = keys };
        if (_path is null || !Directory.Exists(Path.GetDirectoryName(Path.GetFullPath(_path))))
        {
            return;
        }
        try
        {
            AtomicFile.WriteAllBytes(_path, [.. JsonSerializer.SerializeToUtf8Bytes(_file, WatermarkJsonContext.Default.WatermarkFile), (byte)'\n'], AtomicFile.OwnerOnly);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BelayException($"cannot write {_path}: {e.Message}", e);
        }
    }

    private static bool SameKeys(List<string> stored, RootDocument root) =>
        new HashSet<string>(stored, StringComparer.Ordinal).SetEquals(root.Deploy?.Keys ?? []);

    internal sealed class WatermarkFile
    {
        public int Schema { get; set; } = 1;
        public Dictionary<string, WatermarkEntry> Groups { get; set; } = new(StringComparer.Ordinal);
    }

    internal sealed class WatermarkEntry
    {
        public long Sequence { get; set; }
        public List<string> DeployKeys { get; set; } = [];
    }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(GroupWatermarks.WatermarkFile))]
internal sealed partial class WatermarkJsonContext : JsonSerializerContext;
