using Belay.Core.Programs.Windows;

namespace Belay.Core.Deploy;

/// <summary>
/// How a hook (or a health command) runs on Windows, by its file's extension (docs/deployments.md, "On Windows"):
/// <list type="bullet">
/// <item>.exe and .com run as they are;</item>
/// <item>.cmd and .bat run under cmd.exe (<c>cmd.exe /d /s /c ""HOOK" ARGS"</c>: no AutoRun, the quotes kept);</item>
/// <item>.ps1 runs under Windows PowerShell (<c>powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -File HOOK ARGS</c>);</item>
/// <item>a bare name (no folder, no extension: a health command such as <c>curl</c>) is left to CreateProcess's search of the PATH.</item>
/// </list>
/// Anything else (a shell script, a file without an extension in the release) cannot run on Windows, and is refused
/// with what to do. The first word's '/' become '\' (app.conf names release files with '/').
/// </summary>
public static class WindowsHookCommand
{
    /// <summary>The extensions a hook file may have on Windows.</summary>
    public static readonly string[] Runnable = [".exe", ".com", ".cmd", ".bat", ".ps1"];

    /// <summary>The command line for CreateProcess; <paramref name="systemDirectory"/> is where cmd.exe and WindowsPowerShell are (C:\Windows\System32).</summary>
    /// <exception cref="ArgumentException">The file cannot run on Windows: the message names it and what to do.</exception>
    public static string CommandLine(IReadOnlyList<string> command, string systemDirectory)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(systemDirectory);
        var file = command[0].Replace('/', '\\');
        var args = command.Skip(1);
        var extension = Extension(file);
        switch (extension)
        {
            case ".exe" or ".com":
                return WindowsCommandLine.Join([file, .. args]);
            case ".cmd" or ".bat":
                // /s: cmd drops the outer quotes and runs what is between them as it is, so the hook's own quotes stay.
                return WindowsCommandLine.Join([systemDirectory.TrimEnd('\\') + "\\cmd.exe", "/d", "/s", "/c"]) + " \"" + WindowsCommandLine.Join([file, .. args]) + "\"";
            case ".ps1":
                return WindowsCommandLine.Join([systemDirectory.TrimEnd('\\') + "\\WindowsPowerShell\\v1.0\\powershell.exe",
                    "-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File", file, .. args]);
            case "" when !file.Contains('\\', StringComparison.Ordinal) && !file.Contains(':', StringComparison.Ordinal):
                return WindowsCommandLine.Join([file, .. args]);
            default:
                throw new ArgumentException(
                    $"{command[0]} cannot run on Windows: a hook or health command there must be a .exe, .com, .cmd, .bat or .ps1 file " +
                    "(publish a win-x64 archive whose app.conf names such a file, e.g. hooks/pre_start.cmd or hooks/pre_start.ps1)");
        }
    }

    private static string Extension(string file)
    {
        var name = file[(file.LastIndexOf('\\') + 1)..];
        var dot = name.LastIndexOf('.');
        return dot <= 0 ? "" : name[dot..].ToLowerInvariant();
    }
}
