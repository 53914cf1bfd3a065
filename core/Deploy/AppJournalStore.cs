using System.Text.Json;
using System.Text.Json.Serialization;
using Belay.Core.IO;

namespace Belay.Core.Deploy;

/// <summary>
/// Reads and writes an app's journal, state/apps/&lt;app&gt;.json: replaced atomically (a
/// crash leaves the old or the new journal, never a mix), owner-only (mode 0600 in a 0700
/// folder), though it holds no secret. A journal that does not parse is an error naming the
/// file: the agent leaves that app alone rather than guess where its deploy was.
/// </summary>
public static class AppJournalStore
{
    /// <summary>The journal at <paramref name="path"/>, or null when there is none.</summary>
    public static AppJournal? TryLoad(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BelayException($"cannot read the app journal {path}: {e.Message}", e);
        }
        return Parse(bytes, path);
    }

    public static AppJournal Parse(ReadOnlySpan<byte> json, string source)
    {
        AppJournal? journal;
        try
        {
            journal = JsonSerializer.Deserialize(json, AppJournalJsonContext.Default.AppJournal);
        }
        catch (JsonException e)
        {
            throw Corrupt(source, e.Message, e);
        }
        if (journal is null)
        {
            throw Corrupt(source, "it holds null");
        }
        if (journal.Schema != AppJournal.CurrentSchema)
        {
            throw Corrupt(source, journal.Schema > AppJournal.CurrentSchema
                ? $"schema {journal.Schema} was written by a newer belay-agent; this one reads schema {AppJournal.CurrentSchema}"
                : $"schema {journal.Schema} is not a known schema");
        }
        if (!AppPaths.IsValidAppName(journal.Name))
        {
            throw Corrupt(source, $"'{journal.Name}' is not an app name");
        }
        return journal;
    }

    public static byte[] Serialize(AppJournal journal) =>
        [.. JsonSerializer.SerializeToUtf8Bytes(journal, AppJournalJsonContext.Default.AppJournal), (byte)'\n'];

    public static void Save(string path, AppJournal journal)
    {
        ArgumentNullException.ThrowIfNull(journal);
        AtomicFile.WriteAllBytes(path, Serialize(journal), AtomicFile.OwnerOnly);
    }

    /// <summary>Carries out <see cref="PersistJournal"/>: the write, then its crash point.</summary>
    public static void Persist(string path, PersistJournal persist)
    {
        ArgumentNullException.ThrowIfNull(persist);
        Save(path, persist.Journal);
        Durability.Reach(persist.Point);
    }

    private static BelayException Corrupt(string source, string reason, Exception? inner = null) =>
        new(ExitCodes.Error, $"the app journal {source} is not valid ({reason}); the agent leaves this app as it is. " +
            "Move the file away to let the agent start the app over from the group document", inner ?? new InvalidDataException(reason));
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(AppJournal))]
public sealed partial class AppJournalJsonContext : JsonSerializerContext;
