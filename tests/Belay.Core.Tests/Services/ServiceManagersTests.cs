using Belay.Core.Services;

namespace Belay.Core.Tests.Services;

public sealed class ServiceManagersTests
{
    [Fact]
    public void SystemdIsChosenWhereItRunsAndNoneWhereNothingDoes()
    {
        Assert.Equal("systemd", ServiceManagers.Detect(p => p == "/run/systemd/system").Name);
        Assert.Equal("smf", ServiceManagers.Detect(p => p is "/etc/svc/volatile" or "/usr/sbin/svcadm").Name);
        var (name, why) = ServiceManagers.Detect(_ => false);
        Assert.Equal("none", name);
        Assert.Contains("container", why, StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnknownManagerIsAUsageError()
    {
        var e = Assert.Throws<BelayException>(() => ServiceManagers.Render("upstart", new ServiceDefinition()));
        Assert.Equal(ExitCodes.Usage, e.ExitCode);
    }
}
