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

    /// <summary>What each field of trust.json may hold.</summary>
    public static readonly IReadOnlyDictionary<string, string> Fields = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["schema"] = "1",
        ["root"] = "the verified root.json, base64 (a string)",
        ["rootVersion"] = "a root version (a whole number, 1 or more)",
        ["releaseEpoch"] = "a root version (a whole number, 0 or more)",
        ["channel"] = "a channel name (a string)",
        ["sequence"] = "a manifest sequence (a whole number, 0 or more)",
        ["pinnedKeys"] = "a list of minisign public keys (base64 strings)",
        ["pinnedKeys[]"] = "a minisign public key (a base64 string)",
    };

    /// <summary>What to do about a damaged trust.json: without it the host anchors on its pinned keys again.</summary>
    public const string Remedy =
        "the host anchors on its pinned root keys again until it is fixed (the sequence seen in agent.json still guards against replays); belay doctor --repair removes it";

    /// <summary>Reads the record, or null when there is none or it cannot be read (the host then anchors on its pinned keys again).</summary>
    public static TrustState? TryLoad(string? path) => TryLoad(path, out _);

    /// <summary>As <see cref="TryLoad(string?)"/>, with what is wrong ("FILE: field F: …") when the file is there but not valid.</summary>
    public static TrustState? TryLoad(string? path, out string? problem)
    {
        problem = null;
        if (path is null)
        {
            return null;
        }
        try
        {
            return JsonFile.ReadBytes(path, Remedy) is { } bytes ? Parse(bytes, path) : null;
        }
        catch (JsonFileException e)
        {
            problem = e.Message;
            return null;
        }
    }

    /// <summary>Reads trust.json's bytes, every field checked; a <see cref="JsonFileException"/> when one is wrong.</summary>
    public static TrustState Parse(ReadOnlySpan<byte> json, string source)
    {
        var state = JsonFile.Parse(json, source, TrustJsonContext.Default.TrustState, Fields, Remedy);
        void Fail(string field, string problem) => throw new JsonFileException(source, field, $"{problem}; expected {JsonFile.Allowed(Fields, field)}", Remedy);
        if (state.Schema != 1)
        {
            Fail("schema", $"{state.Schema} is not supported");
        }
        if (string.IsNullOrEmpty(state.Root))
        {
            Fail("root", "it is missing or empty");
        }
        if (state.RootVersion < 1)
        {
            Fail("rootVersion", $"{state.RootVersion} is out of range");
        }
        if (state.ReleaseEpoch < 0 || state.ReleaseEpoch > state.RootVersion)
        {
            Fail("releaseEpoch", $"{state.ReleaseEpoch} is out of range (root version {state.RootVersion})");
        }
        if (state.Sequence < 0)
        {
            Fail("sequence", $"{state.Sequence} is negative");
        }
        for (var i = 0; i < state.PinnedKeys.Count; i++)
        {
            if (string.IsNullOrEmpty(state.PinnedKeys[i]))
            {
                Fail($"pinnedKeys[{i}]", state.PinnedKeys[i] is null ? "null is not allowed" : "an empty string is not allowed");
            }
        }
        return state;
    }

    public void Save(string path) =>
        AtomicFile.WriteAllBytes(path, [.. JsonSerializer.SerializeToUtf8Bytes(this, TrustJsonContext.Default.TrustState), (byte)'\n'], AtomicFile.OwnerOnly);
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    RespectNullableAnnotations = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(TrustState))]
internal sealed partial class TrustJsonContext : JsonSerializerContext;
