using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Belay.Core.Cli;

/// <summary>
/// What an executable says about its build: the product version, the git commit and the
/// source's date (compiled in by Directory.Build.targets; the date is the commit's, or
/// SOURCE_DATE_EPOCH, so that a build is reproducible), and the runtime identifier it was
/// compiled for.
/// </summary>
public sealed record BuildFacts(string Version, string Commit, string SourceDate)
{
    public static string Rid => RuntimeInformation.RuntimeIdentifier;

    /// <summary>The version first, so that `belay --version | cut -d' ' -f1` is the version: "0.1.0 (commit 24e5a0211b41, 2026-11-27, linux-x64)".</summary>
    public string ToLine() =>
        $"{Version} (commit {(Commit.Length > 12 ? Commit[..12] : Commit)}, {(SourceDate.Length >= 10 && SourceDate != "unknown" ? SourceDate[..10] : SourceDate)}, {Rid})";

    public string ToJson(string program)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("program", program);
            writer.WriteString("version", Version);
            writer.WriteString("commit", Commit);
            writer.WriteString("sourceDate", SourceDate);
            writer.WriteString("rid", Rid);
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
