using Belay.Core.Programs;

namespace Belay.Core.Tests.Programs;

public sealed class CommandLineTests
{
    [Theory]
    [InlineData("a b  c", new[] { "a", "b", "c" })]
    [InlineData("sh -c 'echo \"$X\" | tr a b'", new[] { "sh", "-c", "echo \"$X\" | tr a b" })]
    [InlineData("say \"a \\\"quoted\\\" word\"", new[] { "say", "a \"quoted\" word" })]
    [InlineData("a\\ b c", new[] { "a b", "c" })]
    [InlineData("x '' y", new[] { "x", "", "y" })]
    [InlineData("pre'fix'\"ed\"", new[] { "prefixed" })]
    [InlineData("no $VAR *glob", new[] { "no", "$VAR", "*glob" })]
    public void WordsSplitAsShDoesWithoutExpansion(string text, string[] expected)
    {
        Assert.True(CommandLine.TrySplit(text, out var words, out var error), error);
        Assert.Equal(expected, words);
    }

    [Theory]
    [InlineData("a 'b", "single quote")]
    [InlineData("a \"b", "double quote")]
    [InlineData("a \\", "backslash")]
    public void AnUnclosedQuoteIsAnError(string text, string what)
    {
        Assert.False(CommandLine.TrySplit(text, out _, out var error));
        Assert.Contains(what, error, StringComparison.Ordinal);
    }
}
