using System.CommandLine;
using Belay.Core.Cli;

namespace Belay.Core.Tests.Cli;

/// <summary>Each check names the option as typed and says what was wrong, one error per bad value.</summary>
public sealed class CliOptionsTests
{
    private static IReadOnlyList<string> Errors(params string[] args)
    {
        var command = new Command("test")
        {
            new Option<string>("--wait").Duration(),
            new Option<string>("--channel").ChannelName(),
            new Option<string>("--version").SemanticVersion(),
            new Option<string>("--feed").FeedAddress(),
            new Option<string>("--rid").RuntimeIdentifier(),
            new Option<string>("--scope").OneOf("system", "user"),
            new Option<string>("--prefix").NotAFile(),
            CliOptions.WholeNumber("--lines", "lines", 10, 1, 100, "-n"),
            CliOptions.LargeWholeNumber("--bytes", "bytes", 5, 0, 10_000_000_000),
            new Argument<string>("target") { Arity = ArgumentArity.ZeroOrOne }.SemanticVersion(),
        };
        return [.. command.Parse(args).Errors.Select(e => e.Message)];
    }

    [Fact]
    public void GoodValuesPass() =>
        Assert.Empty(Errors("--wait", "90s", "--channel", "beta-2", "--version", "1.2.3", "--feed", "https://feed.example/", "--rid", "linux-x64",
            "--scope", "user", "--prefix", "/opt/belay", "-n", "100", "--bytes", "10000000000", "2.0.0-rc.1"));

    [Theory]
    [InlineData(new[] { "--wait", "forever" }, "--wait 'forever' is not a duration: use a number and a unit, like 90s, 45m, 12h, 30d or 2w")]
    [InlineData(new[] { "--channel", "Stable" }, "--channel 'Stable' is not a channel name: use lower-case letters, digits, '-', '_' and '.', like stable or beta-2")]
    [InlineData(new[] { "--version", "1.2" }, "--version '1.2' is not a version: ")]
    [InlineData(new[] { "--rid", "linux/x64" }, "--rid 'linux/x64' is not a runtime identifier (like linux-x64, linux-musl-arm64, osx-arm64, win-x64, illumos-x64)")]
    [InlineData(new[] { "--scope", "all" }, "--scope 'all': use system or user")]
    [InlineData(new[] { "--prefix", "/opt/a\nb" }, "--prefix: the path has a control character (a line break, a tab, ...); give a plain folder path")]
    [InlineData(new[] { "-n", "0" }, "-n '0' is not a whole number from 1 to 100")]
    [InlineData(new[] { "--lines", "ten" }, "--lines 'ten' is not a whole number from 1 to 100")]
    [InlineData(new[] { "--bytes", "10000000001" }, "--bytes '10000000001' is not a whole number from 0 to 10000000000")]
    [InlineData(new[] { "1.x" }, "target '1.x' is not a version: ")]
    public void ABadValueIsNamedAsTyped(string[] args, string expected)
    {
        var error = Assert.Single(Errors(args));
        Assert.StartsWith(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void AFeedProblemFollowsTheOptionsName() =>
        Assert.StartsWith("--feed: ", Assert.Single(Errors("--feed", "ftp://feed.example/")), StringComparison.Ordinal);

    [Fact]
    public void AFileWhereAFolderGoesIsNamed()
    {
        var file = Path.GetTempFileName();
        try
        {
            Assert.Equal($"--prefix '{file}' is a file; give a folder", Assert.Single(Errors("--prefix", file)));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
