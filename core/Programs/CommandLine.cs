using System.Text;

namespace Belay.Core.Programs;

/// <summary>
/// Splits a command the way sh splits words, without expanding anything: white space
/// separates words; 'single quotes' keep everything; "double quotes" keep everything but
/// \" \\ \$ \`; a backslash outside quotes escapes the next character. No variables, globs
/// or pipes: a program that needs a shell says so (command = sh -c '...').
/// </summary>
public static class CommandLine
{
    public static bool TrySplit(string text, out IReadOnlyList<string> words, out string error)
    {
        ArgumentNullException.ThrowIfNull(text);
        var list = new List<string>();
        words = list;
        error = "";
        var word = new StringBuilder();
        var inWord = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c))
            {
                if (inWord)
                {
                    list.Add(word.ToString());
                    word.Clear();
                    inWord = false;
                }
                continue;
            }
            inWord = true;
            switch (c)
            {
                case '\'':
                    var close = text.IndexOf('\'', i + 1);
                    if (close < 0)
                    {
                        error = $"the single quote at column {i + 1} is not closed";
                        return false;
                    }
                    word.Append(text, i + 1, close - i - 1);
                    i = close;
                    break;
                case '"':
                    i++;
                    while (i < text.Length && text[i] != '"')
                    {
                        if (text[i] == '\\' && i + 1 < text.Length && text[i + 1] is '"' or '\\' or '$' or '`')
                        {
                            i++;
                        }
                        word.Append(text[i++]);
                    }
                    if (i >= text.Length)
                    {
                        error = "a double quote is not closed";
                        return false;
                    }
                    break;
                case '\\':
                    if (i + 1 >= text.Length)
                    {
                        error = "a backslash at the end";
                        return false;
                    }
                    word.Append(text[++i]);
                    break;
                default:
                    word.Append(c);
                    break;
            }
        }
        if (inWord)
        {
            list.Add(word.ToString());
        }
        return true;
    }
}
