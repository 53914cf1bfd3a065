using System.CommandLine;
using Belay.Core;
using Belay.Core.Feed;
using Belay.Core.Publishing;

namespace Belay.Release.Commands;

/// <summary>`belay-release app package`: an app's release folder into the reproducible archive a group document names.</summary>
internal static class AppCommands
{
    public static Command Create()
    {
        var folder = new Argument<DirectoryInfo>("folder") { Description = "The release folder, with belay-app.conf at its top." };
        var name = new Option<string>("--name") { Description = "The app's name (lower-case letters, digits, '.', '_', '-').", Required = true };
        var version = new Option<string>("--version") { Description = "The release's version, like 2.7.1.", Required = true };
        var rid = new Option<string>("--rid") { Description = "The runtime identifier it runs on (linux-x64, win-x64, …), or any for a platform-independent app.", DefaultValueFactory = _ => FeedLayout.AnyRid };
        var output = new Option<DirectoryInfo>("--out") { Description = "Where the archive goes.", DefaultValueFactory = _ => new DirectoryInfo(".") };
        var package = new Command("package", "Check a release folder's belay-app.conf and the files it names, and write the reproducible archive APP-VERSION-RID.tar.gz (.zip for win-*).")
        {
            folder, name, version, rid, output,
        };
        package.SetAction(result =>
        {
            long? epoch = long.TryParse(Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH"), out var e) ? e : null;
            var (path, files) = AppArchive.Create(result.GetRequiredValue(folder).FullName, result.GetRequiredValue(name), result.GetRequiredValue(version),
                result.GetRequiredValue(rid), result.GetRequiredValue(output).FullName, ArchiveBuilder.EntryTime(epoch));
            using var stream = File.OpenRead(path);
            var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream));
            Console.WriteLine($"wrote {path} ({stream.Length} bytes, sha256 {sha}; {files.Count} file(s): {string.Join(", ", files.Take(10))}{(files.Count > 10 ? ", …" : "")})");
            return ExitCodes.Ok;
        });
        return new Command("app", "Package apps for deployment (docs/deployments.md).") { package };
    }
}
