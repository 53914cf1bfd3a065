using Belay.Core;
using Belay.Core.Install;
using Belay.Core.IO;

namespace Belay.Bootstrapper.Install;

/// <summary>
/// Putting `belay` on PATH, the way rustup and Tailscale leave their command usable right after
/// the install:
/// <list type="bullet">
/// <item>a system install in the standard places links /usr/local/bin/belay to /opt/belay/bin/belay
///   (install --link-dir DIR links elsewhere, --link-dir none not at all);</item>
/// <item>a user install, or one under --prefix, links nothing by default and says the line to add
///   to the shell's startup file, as rustup does;</item>
/// <item>a link is only ever made where nothing is, or replaced when it is already Belay's: a
///   file or a link to something else is somebody else's and stays (the install says so);</item>
/// <item>the link's path is recorded in config.json (paths.link), and uninstall removes it only
///   if it still points at this installation's belay.</item>
/// </list>
/// Nothing here is needed for Belay to work: a problem is a warning, never a failed install.
/// </summary>
internal static class PathLink
{
    /// <summary>Where a system install links belay unless told otherwise.</summary>
    public const string SystemFolder = "/usr/local/bin";

    /// <summary>The link's path for <c>--link-dir</c> (null: the default for this install; "none": no link).</summary>
    public static string? For(string? linkDir, InstallScope scope, string? prefix)
    {
        if (OperatingSystem.IsWindows() || linkDir == "none")
        {
            return null;
        }
        var folder = linkDir ?? (scope == InstallScope.System && prefix is null ? SystemFolder : null);
        return folder is null ? null : Path.Combine(Path.GetFullPath(folder), "belay");
    }

    /// <summary>Makes <paramref name="link"/> point at <paramref name="target"/> unless something else is there; true when it does.</summary>
    public static bool Ensure(string link, string target, Action<string> say)
    {
        ArgumentNullException.ThrowIfNull(say);
        var folder = Path.GetDirectoryName(link)!;
        if (!Directory.Exists(folder))
        {
            say($"warning: no link to belay in {folder}: that folder does not exist (create it and run the install again, or run {target})");
            return false;
        }
        var info = new FileInfo(link);
        if (info.LinkTarget is { } existing)
        {
            if (SameFile(folder, existing, target))
            {
                return true;
            }
            say($"warning: not replacing {link}: it is a link to {existing}, not to {target}. Remove it and run the install again to put Belay's there");
            return false;
        }
        if (info.Exists || Directory.Exists(link))
        {
            say($"warning: not replacing {link}: it is not Belay's link. Run {target}, or remove {link} and run the install again");
            return false;
        }
        try
        {
            File.CreateSymbolicLink(link, target);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            say($"warning: cannot link {link} to {target}: {SystemErrors.Describe(e)}");
            return false;
        }
    }

    /// <summary>Removes <paramref name="link"/> if it is Belay's link to <paramref name="target"/>; anything else stays.</summary>
    public static bool Remove(string? link, string target, Action<string> say)
    {
        ArgumentNullException.ThrowIfNull(say);
        if (string.IsNullOrEmpty(link) || new FileInfo(link).LinkTarget is not { } existing || !SameFile(Path.GetDirectoryName(link)!, existing, target))
        {
            return false;
        }
        try
        {
            File.Delete(link);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            say($"warning: cannot remove the link {link}: {SystemErrors.Describe(e)}");
            return false;
        }
    }

    /// <summary>
    /// The install's last lines: how to run belay now. Pure: <paramref name="path"/> is the PATH
    /// the user's shell has, <paramref name="linked"/> the link that exists (or null).
    /// </summary>
    public static IReadOnlyList<string> HowToRun(string belay, string? linked, string? path, string statusArgs = "")
    {
        var folders = (path ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Select(Path.TrimEndingDirectorySeparator).ToList();
        bool OnPath(string file) => folders.Contains(Path.TrimEndingDirectorySeparator(Path.GetDirectoryName(file)!), StringComparer.Ordinal);
        if (linked is not null && OnPath(linked))
        {
            return [$"belay is on your PATH ({linked} -> {belay}); try: belay status{statusArgs}"];
        }
        if (OnPath(belay))
        {
            return [$"belay is on your PATH; try: belay status{statusArgs}"];
        }
        var bin = Path.GetDirectoryName(belay)!;
        return
        [
            $"belay is in {bin}, which is not on your PATH{(linked is null ? "" : $" (nor is {Path.GetDirectoryName(linked)}, where {linked} links to it)")}. To run it as belay, add this line to ~/.profile (or your shell's startup file) and open a new shell:",
            $"  export PATH=\"{bin}:$PATH\"",
            $"or run it by its full path: {belay} status{statusArgs}",
        ];
    }

    private static bool SameFile(string folder, string linkTarget, string target) =>
        string.Equals(Path.GetFullPath(linkTarget, folder), Path.GetFullPath(target), StringComparison.Ordinal);
}
