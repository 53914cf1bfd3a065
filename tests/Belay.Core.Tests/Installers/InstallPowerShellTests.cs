using Belay.Core.Minisign;
using Belay.Core.Publishing;
using Belay.TestSupport;

namespace Belay.Core.Tests.Installers;

/// <summary>Rendering install.ps1: the template is data, every value is checked and single-quoted for PowerShell.</summary>
public sealed class InstallPowerShellTests
{
    private const string Sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    private readonly MinisignSecretKey _rootKey = MinisignSecretKey.Generate();

    public static string Template => File.ReadAllText(Path.Combine(BelayBinaries.RepoRoot, "installers", "install.ps1"));

    private InstallScriptValues Values(params InstallScriptBuild[] builds) => new(
        "https://feed.example.com/belay", "stable", [_rootKey.PublicKey], "1.4.2",
        builds.Length > 0 ? builds : [new("win-x64", "bootstrap/1.4.2/belay-win-x64.exe", Sha)]);

    [Fact]
    public void EveryPlaceholderIsFilledWithSingleQuotedValues()
    {
        var script = InstallPowerShell.Render(Template, Values(
            new("win-x64", "bootstrap/1.4.2/belay-win-x64.exe", Sha),
            new("win-arm64", "bootstrap/1.4.2/belay-win-arm64.exe", Sha.Replace('0', 'f'))));
        Assert.DoesNotContain("{{", script, StringComparison.Ordinal);
        Assert.Contains("FeedUrl          = 'https://feed.example.com/belay/'", script, StringComparison.Ordinal);
        Assert.Contains("Channel          = 'stable'", script, StringComparison.Ordinal);
        Assert.Contains($"RootKeys         = @('{_rootKey.PublicKey.ToBase64()}')", script, StringComparison.Ordinal);
        Assert.Contains("BootstrapVersion = '1.4.2'", script, StringComparison.Ordinal);
        // Sorted by RID, one hashtable per line.
        var arm = script.IndexOf($"@{{ Rid = 'win-arm64'; Path = 'bootstrap/1.4.2/belay-win-arm64.exe'; Sha256 = '{Sha.Replace('0', 'f')}' }}", StringComparison.Ordinal);
        var x64 = script.IndexOf($"@{{ Rid = 'win-x64'; Path = 'bootstrap/1.4.2/belay-win-x64.exe'; Sha256 = '{Sha}' }}", StringComparison.Ordinal);
        Assert.True(arm > 0 && x64 > arm, script);
    }

    [Fact]
    public void TheRenderedScriptIsAsciiAndDeterministic()
    {
        var script = InstallPowerShell.Render(Template, Values());
        Assert.All(script, c => Assert.True(c == '\n' || (c >= 0x20 && c < 0x7f), $"not printable ASCII: U+{(int)c:X4}"));
        Assert.Equal(script, InstallPowerShell.Render(Template, Values()));
    }

    [Fact]
    public void TheTemplateIsOneScriptBlockClosedOnTheLastLine()
    {
        // Top level: comments, the param block, then '& {' ... '}' as the very last line.
        var lines = Template.TrimEnd('\n').Split('\n');
        Assert.Equal("}", lines[^1]);
        var open = Array.IndexOf(lines, "& {");
        Assert.True(open > 0, "no '& {' line");
        Assert.All(lines[(open + 1)..^1], l => Assert.True(l.Length == 0 || l.StartsWith("    ", StringComparison.Ordinal) || l == "{{BuildTable}}", $"outside the script block: {l}"));
        Assert.Contains("[CmdletBinding()]", lines[..open]);
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("it's")]
    [InlineData("'")]
    [InlineData("\u2019; Remove-Item C:\\ \u2018")]
    [InlineData("$(Get-Date) `n $env:PATH @(1) \"x\"")]
    public void QuoteDoublesEveryKindOfSingleQuote(string value)
    {
        var quoted = InstallPowerShell.Quote(value);
        Assert.StartsWith("'", quoted, StringComparison.Ordinal);
        Assert.EndsWith("'", quoted, StringComparison.Ordinal);
        var inner = quoted[1..^1];
        foreach (var q in new[] { '\'', '\u2018', '\u2019', '\u201A', '\u201B' })
        {
            Assert.Equal(2 * value.Count(c => c == q), inner.Count(c => c == q));
        }
    }

    [Theory]
    [InlineData("https://feed.example.com/'; Remove-Item x; '")]
    [InlineData("https://feed.example.com/$(x)")]
    [InlineData("https://feed.example.com/a b")]
    [InlineData("https://feed.example.com/?x=1")]
    [InlineData("https://user@feed.example.com/")]
    [InlineData("file:///srv/feed")]
    public void AFeedUrlThatIsNotAPlainHttpAddressIsRefused(string url)
    {
        var e = Assert.Throws<BelayException>(() => InstallPowerShell.Render(Template, Values() with { FeedUrl = url }));
        Assert.Equal(ExitCodes.Usage, e.ExitCode);
    }

    [Theory]
    [InlineData("linux-x64", "bootstrap/1.0.0/belay-linux-x64", Sha)]
    [InlineData("win-x86", "bootstrap/1.0.0/belay-win-x86.exe", Sha)]
    [InlineData("win-x64", "../belay-win-x64.exe", Sha)]
    [InlineData("win-x64", "bootstrap/1.0.0/belay win.exe", Sha)]
    [InlineData("win-x64", "bootstrap/1.0.0/belay'.exe", Sha)]
    [InlineData("win-x64", "bootstrap/1.0.0/belay-win-x64.exe", "0123")]
    public void ABuildOfTheWrongFormIsRefused(string rid, string path, string sha)
    {
        Assert.Throws<BelayException>(() => InstallPowerShell.Render(Template, Values(new InstallScriptBuild(rid, path, sha))));
    }

    [Fact]
    public void OtherValuesOfTheWrongFormAreRefused()
    {
        Assert.Throws<BelayException>(() => InstallPowerShell.Render(Template, Values() with { Channel = "Stable'" }));
        Assert.Throws<BelayException>(() => InstallPowerShell.Render(Template, Values() with { BootstrapVersion = "1.0; rm" }));
        Assert.Throws<BelayException>(() => InstallPowerShell.Render(Template, Values() with { RootKeys = [] }));
        Assert.Throws<BelayException>(() => InstallPowerShell.Render(Template, Values() with { Builds = [] }));
        Assert.Throws<BelayException>(() => InstallPowerShell.Render(Template + "# caf\u00e9\n", Values()));
    }
}
