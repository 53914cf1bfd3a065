using System.Text;

namespace Belay.Core.Programs.Windows;

/// <summary>
/// Joins a program's words (programs.conf's command, split as sh splits it) into the one command line
/// CreateProcess takes, quoted so that the C runtime's parser (CommandLineToArgvW, what every MSVC and .NET
/// program uses) gives back exactly those words: a word with a space, a tab, a quote or nothing in it is put
/// in double quotes; a quote is escaped with a backslash, and the backslashes before a quote (or before the
/// closing quote) are doubled. Other backslashes stay as they are, so C:\Program Files\x.exe needs no
/// escaping beyond the quotes.
/// </summary>
public static class WindowsCommandLine
{
    public static string Join(IEnumerable<string> words)
    {
        ArgumentNullException.ThrowIfNull(words);
        var line = new StringBuilder();
        foreach (var word in words)
        {
            if (word.Contains('\0', StringComparison.Ordinal))
            {
                throw new ArgumentException("a command word cannot hold a NUL character", nameof(words));
            }
            if (line.Length > 0)
            {
                line.Append(' ');
            }
            Quote(word, line);
        }
        return line.ToString();
    }

    private static void Quote(string word, StringBuilder line)
    {
        if (word.Length > 0 && word.IndexOfAny([' ', '\t', '\n', '\v', '"']) < 0)
        {
            line.Append(word);
            return;
        }
        line.Append('"');
        var backslashes = 0;
        foreach (var c in word)
        {
            if (c == '\\')
            {
                backslashes++;
                continue;
            }
            if (c == '"')
            {
                line.Append('\\', backslashes * 2 + 1).Append('"');
            }
            else
            {
                line.Append('\\', backslashes).Append(c);
            }
            backslashes = 0;
        }
        line.Append('\\', backslashes * 2).Append('"');
    }
}
