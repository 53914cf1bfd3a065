using Belay.Core.Programs.Windows;

namespace Belay.Core.Tests.Programs.Windows;

/// <summary>The command line CreateProcess gets must split back (CommandLineToArgvW's rules) into exactly the words of programs.conf.</summary>
public sealed class WindowsCommandLineTests
{
    [Theory]
    [InlineData(new[] { @"C:\tools\app.exe", "--port", "80" }, @"C:\tools\app.exe --port 80")]
    [InlineData(new[] { @"C:\Program Files\App\app.exe", "a b" }, @"""C:\Program Files\App\app.exe"" ""a b""")]
    [InlineData(new[] { "app", "" }, @"app """"")]
    [InlineData(new[] { "app", "say \"hi\"" }, @"app ""say \""hi\""""")]
    [InlineData(new[] { "app", @"C:\dir with space\" }, @"app ""C:\dir with space\\""")]
    [InlineData(new[] { "app", @"a\\b" }, @"app a\\b")]
    [InlineData(new[] { "app", @"a\""b" }, @"app ""a\\\""b""")]
    public void Words_are_quoted_as_the_c_runtime_splits_them(string[] words, string expected)
    {
        var line = WindowsCommandLine.Join(words);
        Assert.Equal(expected, line);
        Assert.Equal(words, Split(line));
    }

    [Fact]
    public void A_nul_in_a_word_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => WindowsCommandLine.Join(["app", "a\0b"]));
        Assert.Contains("NUL", e.Message, StringComparison.Ordinal);
    }

    /// <summary>CommandLineToArgvW's rules (for arguments after the first; the tests' program names have no quotes or backslash runs before quotes).</summary>
    private static List<string> Split(string line)
    {
        var words = new List<string>();
        var word = new System.Text.StringBuilder();
        var inQuotes = false;
        var inWord = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (c == '\\')
            {
                var n = 0;
                while (i < line.Length && line[i] == '\\')
                {
                    n++;
                    i++;
                }
                if (i < line.Length && line[i] == '"')
                {
                    word.Append('\\', n / 2);
                    if (n % 2 == 1)
                    {
                        word.Append('"');
                    }
                    else
                    {
                        inQuotes = !inQuotes;
                    }
                }
                else
                {
                    word.Append('\\', n);
                    i--;
                }
                inWord = true;
                continue;
            }
            if (c == '"')
            {
                inQuotes = !inQuotes;
                inWord = true;
                continue;
            }
            if (c == ' ' && !inQuotes)
            {
                if (inWord)
                {
                    words.Add(word.ToString());
                    word.Clear();
                    inWord = false;
                }
                continue;
            }
            word.Append(c);
            inWord = true;
        }
        if (inWord)
        {
            words.Add(word.ToString());
        }
        return words;
    }
}
