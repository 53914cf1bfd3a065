using System.Security.Cryptography;
using Belay.Core.IO;

namespace Belay.Core.Install;

/// <summary>
/// host-id in the state folder: this host's rollout bucket, a random 128-bit id written once by
/// `belay install` (32 hex digits). Read by the agent, `belay update` and `belay status`; one that is
/// missing or damaged is an error that says so, and `belay doctor --repair` writes a new one (the
/// host then falls in another rollout bucket, which is all the id is for).
/// </summary>
public static class HostId
{
    public const string Remedy = "belay doctor --repair writes a new one (this host then falls in another rollout bucket)";

    public static string New() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>What install writes, or an id of 8 to 128 letters, digits, '-' and '_' (set by hand or another tool).</summary>
    public static bool IsValid(string? id) =>
        id is { Length: >= 8 and <= 128 } && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    /// <summary>The id; a <see cref="BelayException"/> naming the file and what is wrong when it is missing or not an id.</summary>
    public static string Load(string path) =>
        TryLoad(path, out var problem) ?? throw new BelayException(problem ?? $"{path}: it is missing; {Remedy}");

    /// <summary>The id, or null with what is wrong ("FILE: …; what to do").</summary>
    public static string? TryLoad(string path, out string? problem)
    {
        problem = null;
        byte[]? bytes;
        try
        {
            bytes = JsonFile.ReadBytes(path, Remedy);
        }
        catch (JsonFileException e)
        {
            problem = e.Message;
            return null;
        }
        if (bytes is null)
        {
            problem = $"{path}: it is missing; {Remedy}";
            return null;
        }
        var id = System.Text.Encoding.UTF8.GetString(bytes).Trim();
        if (!IsValid(id))
        {
            problem = $"{path}: {(id.Length == 0 ? "it is empty" : "it does not hold a host id")}; expected 32 hex digits (8 to 128 letters, digits, '-' or '_'); {Remedy}";
            return null;
        }
        return id;
    }
}
