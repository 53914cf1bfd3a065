using Belay.Core.Programs;

namespace Belay.Core.Tests.Programs;

public sealed class SecretsTests
{
    [Theory]
    [InlineData("API_TOKEN", true)]
    [InlineData("db_password", true)]
    [InlineData("AWS_SECRET_ACCESS_KEY", true)]
    [InlineData("SSH_KEY", true)]
    [InlineData("BASIC_AUTH", true)]
    [InlineData("PORT", false)]
    [InlineData("QUEUE", false)]
    public void KeysThatLookSecretAreMasked(string key, bool secret)
    {
        var masked = Secrets.MaskEnvironment([new(key, "value")]);
        Assert.Equal(secret ? "***" : "value", masked[key]);
    }

    [Theory]
    [InlineData("TERM", 15)]
    [InlineData("sigint", 2)]
    [InlineData("SIGKILL", 9)]
    [InlineData("HUP", 1)]
    public void SignalNamesWithOrWithoutSigAreKnown(string name, int number)
    {
        Assert.True(SignalNames.TryParse(name, out var signal));
        Assert.Equal(number, signal);
    }

    [Fact]
    public void UserSignalsHaveThisSystemsNumbers()
    {
        Assert.True(SignalNames.TryParse("USR2", out var usr2));
        Assert.Equal(OperatingSystem.IsLinux() ? 12 : OperatingSystem.IsMacOS() ? 31 : usr2, usr2);
        Assert.False(SignalNames.TryParse("STOP", out _));
    }
}
