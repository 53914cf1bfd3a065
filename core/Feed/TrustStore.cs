using System.Text.Json;
using System.Text.Json.Serialization;
using Belay.Core.IO;

namespace Belay.Core.Feed;

/// <summary>
/// trust.json in the state folder: what a host has come to trust from its feed, replaced
/// atomically in one write so that a crash leaves the old or the new record, never a mix:
/// <list type="bullet">
/// <item>the newest root it verified (the exact bytes), from which the next check walks;</item>
/// <item>the release epoch: the root version at which the release role last changed (0: never);</item>
/// <item>the highest manifest sequence seen on <see cref="Channel"/> under that epoch (the watermark).</item>
/// </list>
/// Only a root rotation that changes the release keys moves the epoch, and only a new epoch
/// lowers the watermark (fast-forward recovery after a release key compromise).
/// </summary>
public sealed class TrustState
{
    public int Schema { get; set; } = 1;

    /// <summary>The verified root document, base64 of its bytes.</summary>
    public string Root { get; set; } = "";
    public long RootVersion { get; set; }
    public long ReleaseEpoch { get; set; }
    public string Channel { get; set; } = "";
    public long Sequence { get; set; }

    /// <summary>The pinned keys (config or compiled in) the chain was anchored on: other pinned keys mean another trust, and a fresh anchor.</summary>
    public List<string> PinnedKeys { get; set; } = [];

    public TrustedRoot? TrustedRoot(string source)
    {
        try
        {
            var json = Convert.FromBase64String(Root);
            return new TrustedRoot(RootTrust.Parse(json, source), json);
        }
        catch (FormatException)
        {
            return null;
        }
        catch (BelayException)
        {
            return null;
        }
    }

    /// <summary>Reads the record, or null when there is none or it cannot be read (the host then anchors on its pinned keys again).</summary>
    public static TrustState? TryLoad(string? path)
    {
        if (path is null)
        {
            return null;
        }
        try
        {
            var state = JsonSerializer.Deserialize(File.ReadAllBytes(path), TrustJsonContext.Default.TrustState);
            return state is { Schema: 1 } ? state : null;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public void Save(string path) =>
        AtomicFile.WriteAllBytes(path, [.. JsonSerializer.SerializeToUtf8Bytes(this, TrustJsonContext.Default.TrustState), (byte)'\n'], AtomicFile.OwnerOnly);
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(TrustState))]
internal sealed partial class TrustJsonContext : JsonSerializerContext;
