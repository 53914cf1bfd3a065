using System.CommandLine;
using Belay.Core;
using Belay.Core.Archives;
using Belay.Core.Cli;
using Belay.Core.Feed;
using Belay.Core.IO;
using Belay.Core.Publishing;
using Belay.Core.Versioning;

namespace Belay.Release.Commands;

/// <summary>package: the per-RID agent archive a feed serves.</summary>
internal static class PackageCommand
{
    public static Command Create()
    {
        var rid = new Option<string>("--rid") { Description = "The runtime identifier, like linux-x64 or win-x64.", Required = true }.RuntimeIdentifier();
        var version = new Option<string>("--version") { Description = "The version in the archive's name.", Required = true }.SemanticVersion();
        var input = new Option<DirectoryInfo>("--input") { Description = "The published agent folder (belay-agent and anything beside it).", Required = true };
        var output = new Option<DirectoryInfo>("--out") { Description = "Where the archive goes.", Required = true };
        var compact = new Option<string>("--compact")
        {
            Description = "The compact form beside the .tar.gz (Linux, macOS, illumos): best (Brotli quality 11, about 30 s; what releases ship), fast (quality 5, for tests and scratch feeds) or none.",
            DefaultValueFactory = _ => "best",
        };
        compact.AcceptOnlyFromAmong("best", "fast", "none");
        var command = new Command("package", "Build a reproducible agent archive: belay-agent-VERSION-RID.tar.gz (.zip for Windows), and its compact form belay-agent-VERSION-RID.tar.x86.br (.tar.a64.br on ARM64, .tar.br elsewhere) that hosts download instead.")
        {
            rid, version, input, output, compact,
        };
        command.SetAction(result =>
        {
            var r = result.GetRequiredValue(rid);
            var v = result.GetRequiredValue(version);
            if (!SemVersion.TryParse(v, out _, out var error))
            {
                throw new BelayException(ExitCodes.Usage, error);
            }
            var path = Path.Combine(result.GetRequiredValue(output).FullName, Path.GetFileName(FeedLayout.AgentArchive(v, r)));
            long? epoch = long.TryParse(Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH"), out var e) ? e : null;
            var from = result.GetRequiredValue(input).FullName;
            if (!Directory.Exists(from))
            {
                throw new BelayException(ExitCodes.Usage, $"--input {from} is not a folder: give the folder that holds belay-agent (a dotnet publish output)");
            }
            IReadOnlyList<string> files;
            string? compactPath = null;
            try
            {
                (files, compactPath) = ArchiveBuilder.CreateWithCompact(from, path, r, ArchiveBuilder.EntryTime(epoch), result.GetValue(compact) switch
                {
                    "none" => null,
                    "fast" => CompactArchive.Level.Fast,
                    _ => CompactArchive.Level.Best,
                });
            }
            catch (Exception failure) when (failure is IOException or UnauthorizedAccessException)
            {
                throw new BelayException(failure is UnauthorizedAccessException ? ExitCodes.NeedsPrivileges : ExitCodes.Error,
                    $"cannot package {from} into {path}: {SystemErrors.Describe(failure)}", failure);
            }
            Console.WriteLine($"wrote {path} ({new FileInfo(path).Length} bytes: {string.Join(", ", files)})");
            if (compactPath is not null)
            {
                Console.WriteLine($"wrote {compactPath} ({new FileInfo(compactPath).Length} bytes: the same tar, compact)");
            }
            return ExitCodes.Ok;
        });
        return command;
    }
}
