using Belay.Core.Versioning;

namespace Belay.Core.Tests.Versioning;

public sealed class SemVersionTests
{
    [Theory]
    [InlineData("1.0.0-alpha", "1.0.0-alpha.1")]
    [InlineData("1.0.0-alpha.1", "1.0.0-alpha.beta")]
    [InlineData("1.0.0-alpha.beta", "1.0.0-beta")]
    [InlineData("1.0.0-beta", "1.0.0-beta.2")]
    [InlineData("1.0.0-beta.2", "1.0.0-beta.11")]
    [InlineData("1.0.0-beta.11", "1.0.0-rc.1")]
    [InlineData("1.0.0-rc.1", "1.0.0")]
    [InlineData("1.0.0", "1.0.1")]
    [InlineData("1.9.0", "1.10.0")]
    [InlineData("1.10.0", "2.0.0")]
    public void VersionsSortByTheSemVerPrecedenceRules(string lower, string higher)
    {
        Assert.True(SemVersion.Parse(lower) < SemVersion.Parse(higher));
        Assert.True(SemVersion.Parse(higher) > SemVersion.Parse(lower));
    }

    [Fact]
    public void BuildMetadataDoesNotChangePrecedence()
    {
        Assert.Equal(SemVersion.Parse("1.2.3+abc"), SemVersion.Parse("1.2.3+def"));
        Assert.Equal("1.2.3+abc", SemVersion.Parse("1.2.3+abc").ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("1.2")]
    [InlineData("1.2.3.4")]
    [InlineData("01.2.3")]
    [InlineData("1.2.3-")]
    [InlineData("1.2.3-01")]
    [InlineData("v1.2.3")]
    [InlineData("1.2.3-a..b")]
    [InlineData("1.2.3+")]
    public void MalformedVersionsAreRefusedWithAReason(string text)
    {
        Assert.False(SemVersion.TryParse(text, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }
}
