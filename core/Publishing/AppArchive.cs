using System.Formats.Tar;
using System.IO.Compression;
using Belay.Core.Deploy;
using Belay.Core.Feed;

namespace Belay.Core.Publishing;

/// <summary>
/// An app's release archive (<c>belay-release app package</c>): the folder as it is, with its
/// belay-app.conf at the top, packed reproducibly (<see cref="ArchiveBuilder"/>: sorted entries,
/// a fixed time, root:root, modes 0755/0644), so the same folder gives the same SHA-256 and
/// a re-run of a deploy can tell "the same archive" from "another archive with that version".
/// Before packing, the folder is checked as a host will check the release: belay-app.conf
/// parses (unknown keys are errors, with file and line) and every file it names (exec, hooks,
/// the health command) is in the folder and executable; the folder holds only regular files
/// and folders: a symbolic link is refused here, as every host's extractor would refuse it.
/// </summary>
public static class AppArchive
{
    /// <summary>Archives larger than this are refused when read back for their config (a publisher's sanity cap).</summary>
    private const long ConfigReadLimit = 1024 * 1024;

    /// <summary>The archive's file name: &lt;app&gt;-&lt;version&gt;-&lt;rid&gt;.tar.gz (.zip for win-*).</summary>
    public static string FileName(string app, string version, string rid) => Path.GetFileName(FeedLayout.AppArchive(app, version, rid));

    /// <summary>Packs <paramref name="folder"/> into <paramref name="outputDirectory"/>; returns the archive's path and the files in it.</summary>
    public static (string Path, IReadOnlyList<string> Files) Create(string folder, string app, string version, string rid, string outputDirectory, DateTimeOffset entryTime)
    {
        if (!DeployNames.IsValidApp(app))
        {
            throw new BelayException(ExitCodes.Usage, $"--name '{app}' is not an app name ({DeployNames.AppRule})");
        }
        if (!DeployNames.IsValidVersion(version))
        {
            throw new BelayException(ExitCodes.Usage, $"--version '{version}' is not a version ({DeployNames.VersionRule})");
        }
        if (rid != FeedLayout.AnyRid && !FeedLayout.IsValidRid(rid))
        {
            throw new BelayException(ExitCodes.Usage, $"--rid '{rid}' is not a runtime identifier (like linux-x64, osx-arm64, win-x64) or '{FeedLayout.AnyRid}'");
        }
        var input = Path.GetFullPath(folder);
        if (!Directory.Exists(input))
        {
            throw new BelayException(ExitCodes.Usage, $"{input} is not a folder");
        }
        CheckFolder(input);
        var config = AppConfig.Load(input);
        var problems = config.CheckRelease(input, forWindows: rid.StartsWith("win-", StringComparison.Ordinal));
        if (problems.Count > 0)
        {
            throw new BelayException(ExitCodes.Usage, $"the release in {input} is incomplete: {string.Join("; ", problems)}");
        }
        var output = Path.Combine(Path.GetFullPath(outputDirectory), FileName(app, version, rid));
        if (output.StartsWith(input + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new BelayException(ExitCodes.Usage, $"the archive would be written inside the folder it packs ({output}); give --out another folder");
        }
        var files = ArchiveBuilder.Create(input, output, rid, entryTime, excluded: []);
        return (output, files);
    }

    /// <summary>
    /// Reads belay-app.conf from the top of an archive and parses it; throws naming the archive
    /// when it is missing or wrong. What <c>belay-release deploy</c> checks of every archive it publishes.
    /// </summary>
    public static AppConfig RequireConfig(string archive, string app, string version)
    {
        var text = ReadConfig(archive)
            ?? throw new BelayException(ExitCodes.Usage, $"{archive} has no {AppConfig.FileName} at its top; make the archive with belay-release app package");
        try
        {
            return AppConfig.Parse(text, $"{archive}:{AppConfig.FileName}");
        }
        catch (AppConfigException e)
        {
            throw new BelayException(ExitCodes.Usage, $"{app} {version}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Unpacks the archive into a scratch folder with the extractor every host uses (and its
    /// default caps), then removes it: an archive a host would refuse (a path that leaves the
    /// folder, a link, a device, a bomb) is refused before it is published.
    /// </summary>
    public static void RequireExtractable(string archive)
    {
        var scratch = Directory.CreateTempSubdirectory("belay-release-check-").FullName;
        try
        {
            Archives.ArchiveExtractor.Extract(archive, Path.Combine(scratch, "release"));
        }
        catch (BelayException e) when (e.ExitCode == ExitCodes.TrustFailure)
        {
            throw new BelayException(ExitCodes.Usage, $"{archive} would be refused by every host: {e.Message}; make the archive with belay-release app package", e);
        }
        finally
        {
            try
            {
                Directory.Delete(scratch, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static string? ReadConfig(string archive)
    {
        try
        {
            if (archive.EndsWith(".zip", StringComparison.OrdinalIgnoreCase))
            {
                using var zip = ZipFile.OpenRead(archive);
                var entry = zip.GetEntry(AppConfig.FileName);
                if (entry is null || entry.Length > ConfigReadLimit)
                {
                    return null;
                }
                using var reader = new StreamReader(entry.Open());
                return reader.ReadToEnd();
            }
            using var file = File.OpenRead(archive);
            using var gzip = new GZipStream(file, CompressionMode.Decompress);
            using var tar = new TarReader(gzip);
            while (tar.GetNextEntry() is { } next)
            {
                var name = next.Name.StartsWith("./", StringComparison.Ordinal) ? next.Name[2..] : next.Name;
                if (name == AppConfig.FileName && next.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile && next.DataStream is { } data && next.Length <= ConfigReadLimit)
                {
                    using var reader = new StreamReader(data);
                    return reader.ReadToEnd();
                }
            }
            return null;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or FormatException)
        {
            throw new BelayException(ExitCodes.Usage, $"{archive} is not a readable archive: {e.Message}", e);
        }
    }

    /// <summary>No symbolic links, which no host would unpack (the extractor takes regular files and folders only).</summary>
    private static void CheckFolder(string input)
    {
        foreach (var entry in new DirectoryInfo(input).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
        {
            var relative = Path.GetRelativePath(input, entry.FullName);
            if (entry.LinkTarget is not null)
            {
                throw new BelayException(ExitCodes.Usage, $"{relative} in {input} is a symbolic link; hosts unpack regular files and folders only: copy what it points at instead");
            }
        }
    }
}
