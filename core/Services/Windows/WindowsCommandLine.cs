using System.Text;

namespace Belay.Core.Services.Windows;

/// <summary>
/// A Windows command line (a service's image path) from an argument list, as the C runtime
/// and CommandLineToArgvW read it back. The executable is always in double quotes: the SCM
/// reads an unquoted path with spaces (C:\Program Files\Belay\bin\belay.exe) one word at a time
/// and would try C:\Program.exe first. An argument is quoted when it is empty or holds a
/// space, tab, newline or double quote; inside quotes a double quote becomes \" and the
/// backslashes just before a double quote (or before the closing quote) are doubled.
/// </summary>
public static class WindowsCommandLine
{
    public static string Join(IReadOnlyList<string> commandLine)
    {
        ArgumentNullException.ThrowIfNull(commandLine);
        if (commandLine.Count == 0)
        {
            throw new ArgumentException("the command line is empty", nameof(commandLine));
        }
        var exe = commandLine[0];
        // argv[0] is read up to the next double quote, with no escapes: it cannot hold one.
        if (exe.Length == 0 || exe.Contains('"', StringComparison.Ordinal) || exe.Any(char.IsControl))
        {
            throw new ArgumentException($"the executable path '{exe}' cannot be written on a Windows command line", nameof(commandLine));
        }
        var line = new StringBuilder().Append('"').Append(exe).Append('"');
        foreach (var arg in commandLine.Skip(1))
        {
            line.Append(' ');
            AppendArgument(line, arg);
        }
        return line.ToString();
    }

    private static void AppendArgument(StringBuilder line, string arg)
    {
        if (arg.Length > 0 && !arg.Any(c => c is ' ' or '\t' or '\n' or '\v' or '"'))
        {
            line.Append(arg);
            return;
        }
        line.Append('"');
        var backslashes = 0;
        foreach (var c in arg)
        {
            if (c == '\\')
            {
                backslashes++;
                continue;
            }
            if (c == '"')
            {
                line.Append('\\', (backslashes * 2) + 1).Append('"');
            }
            else
            {
                line.Append('\\', backslashes).Append(c);
            }
            backslashes = 0;
        }
        line.Append('\\', backslashes * 2).Append('"');
    }

    /// <summary>
    /// Splits a command line the way CommandLineToArgvW (and the C runtime since 2008) does:
    /// the inverse of <see cref="Join"/>, used by the tests to check the round trip.
    /// </summary>
    public static IReadOnlyList<string> Split(string commandLine)
    {
        ArgumentNullException.ThrowIfNull(commandLine);
        var args = new List<string>();
        var i = 0;
        // argv[0]: up to the closing quote, or to the first space or tab; no escapes.
        var exe = new StringBuilder();
        if (i < commandLine.Length && commandLine[i] == '"')
        {
            for (i++; i < commandLine.Length && commandLine[i] != '"'; i++)
            {
                exe.Append(commandLine[i]);
            }
            i++;
        }
        else
        {
            for (; i < commandLine.Length && commandLine[i] is not (' ' or '\t'); i++)
            {
                exe.Append(commandLine[i]);
            }
        }
        args.Add(exe.ToString());
        while (true)
        {
            while (i < commandLine.Length && commandLine[i] is ' ' or '\t')
            {
                i++;
            }
            if (i >= commandLine.Length)
            {
                return args;
            }
            var arg = new StringBuilder();
            var quoted = false;
            for (; i < commandLine.Length; i++)
            {
                var c = commandLine[i];
                if (!quoted && c is ' ' or '\t')
                {
                    break;
                }
                if (c == '\\')
                {
                    var n = 0;
                    while (i < commandLine.Length && commandLine[i] == '\\')
                    {
                        n++;
                        i++;
                    }
                    if (i < commandLine.Length && commandLine[i] == '"')
                    {
                        arg.Append('\\', n / 2);
                        if (n % 2 == 1)
                        {
                            arg.Append('"');
                            continue;
                        }
                    }
                    else
                    {
                        arg.Append('\\', n);
                    }
                    i--;
                    continue;
                }
                if (c == '"')
                {
                    if (quoted && i + 1 < commandLine.Length && commandLine[i + 1] == '"')
                    {
                        arg.Append('"'); // "" inside quotes: a literal quote (post-2008 runtime)
                        i++;
                        continue;
                    }
                    quoted = !quoted;
                    continue;
                }
                arg.Append(c);
            }
            args.Add(arg.ToString());
        }
    }
}
