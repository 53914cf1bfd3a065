namespace Belay.Core.Programs;

/// <summary>
/// Whether a program's command can be started at all, checked before the agent spawns it, the
/// way execvp will look for it: a name with a '/' is a path (relative to the program's
/// directory), anything else is looked up in the program's PATH. A command that is missing,
/// a folder, or has no execute bit is a spawn error ("spawn error: /x: not found", as
/// supervisorctl says): the program is not started, and status and the reply to start or
/// reload say so, instead of a start that exits 127 at once and backs off until fatal.
/// </summary>
public static class CommandLookup
{
    /// <summary>The PATH execvp uses when the environment has none (glibc's default).</summary>
    public const string DefaultPath = "/bin:/usr/bin";

    /// <summary>Null when <paramref name="command"/> can be started, else why not, starting with "spawn error:".</summary>
    public static string? Problem(string command, string directory, string? path)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command.Length == 0)
        {
            return "spawn error: the command is empty";
        }
        if (command.Contains('/', StringComparison.Ordinal))
        {
            return Check(Path.IsPathRooted(command) ? command : Path.Combine(directory, command), command);
        }
        var folders = (string.IsNullOrEmpty(path) ? DefaultPath : path).Split(':');
        string? firstProblem = null;
        foreach (var folder in folders)
        {
            var candidate = Path.Combine(folder.Length == 0 ? directory : Path.IsPathRooted(folder) ? folder : Path.Combine(directory, folder), command);
            if (!File.Exists(candidate) && !Directory.Exists(candidate))
            {
                continue;
            }
            var problem = Check(candidate, candidate);
            if (problem is null)
            {
                return null;
            }
            firstProblem ??= problem;
        }
        return firstProblem ?? $"spawn error: {command}: not found in PATH ({(string.IsNullOrEmpty(path) ? DefaultPath : path)})";
    }

    private static string? Check(string file, string shown)
    {
        if (Directory.Exists(file))
        {
            return $"spawn error: {shown}: is a folder, not a program";
        }
        if (!File.Exists(file))
        {
            return $"spawn error: {shown}: not found";
        }
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(file) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) == 0)
        {
            return $"spawn error: {shown}: not executable (chmod +x {file})";
        }
        return null;
    }
}
