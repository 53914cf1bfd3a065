using Belay.Hub.Api;
using Belay.Hub.Storage;

namespace Belay.Hub.Tests.Api;

public sealed class HostViewsTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    private static HostRecord Host(string? group = null) => new()
    {
        Id = "h1", CredentialHash = "x", Group = "web", EnrolledAt = Now, Hostname = "web-1", Version = "1.0.0", MacsJson = "[\"aa:bb:cc:dd:ee:ff\"]",
        ReportedGroup = group, LastSeen = Now.AddMinutes(-3),
    };

    private const string State = """
        {"version":"1.2.0","lastCheck":{"at":"2026-12-01T11:59:50Z","result":"ok"},
         "programs":[{"name":"api","state":"running","pid":42,"restarts":1},{"name":"worker","state":"fatal"}],
         "apps":[{"name":"shop","state":"failed","step":"health","desired":"2.7.1","running":"2.7.0"}],
         "somethingNew":{"x":1}}
        """;

    [Fact]
    public void ARowTakesTheRunningVersionProgramsAppsAndProblemsFromTheState()
    {
        var row = HostViews.Summarize(Host(), State, Now);
        Assert.Equal(("1.2.0", "web", true, (DateTimeOffset?)null), (row.Version, row.Group, row.Connected, row.LastSeen));
        Assert.Equal(["api", "worker"], row.Programs.Select(p => p.Name));
        Assert.Equal(42, row.Programs[0].Pid);
        Assert.Equal("shop", row.Apps.Single().Name);
        Assert.Equal("problem", row.Health);
        Assert.Equal(["program worker: fatal", "app shop: failed at health"], row.Problems);
        Assert.Equal(["aa:bb:cc:dd:ee:ff"], row.Macs);
    }

    [Fact]
    public void WithoutAStateOrAConnectionTheRowStillShowsWhatIsKnown()
    {
        var row = HostViews.Summarize(Host("db"), null, null);
        Assert.Equal(("1.0.0", "db", false, "ok"), (row.Version, row.Group, row.Connected, row.Health));
        Assert.Equal(Now.AddMinutes(-3), row.LastSeen);
        Assert.Empty(row.Programs);
    }

    [Fact]
    public void AStateThatIsNotJsonIsAProblemNotAnError()
    {
        var row = HostViews.Summarize(Host(), "{\"programs\":", Now);
        Assert.Equal("problem", row.Health);
        var wrongTypes = HostViews.Summarize(Host(), "{\"programs\":{\"a\":1},\"lastCheck\":5,\"version\":7}", Now);
        Assert.Empty(wrongTypes.Programs);
        Assert.Equal("1.0.0", wrongTypes.Version);
    }

    [Theory]
    [InlineData(null, null, null, true)]
    [InlineData("web", null, null, true)]
    [InlineData("db", null, null, false)]
    [InlineData(null, "connected", null, true)]
    [InlineData(null, "disconnected", null, false)]
    [InlineData(null, "problem", null, true)]
    [InlineData(null, "ok", null, false)]
    [InlineData(null, "fatal", null, true)]
    [InlineData(null, null, "WEB-1", true)]
    [InlineData(null, null, "bb:cc", true)]
    [InlineData(null, null, "worker", true)]
    [InlineData(null, null, "nothing", false)]
    public void TheFleetFiltersByGroupStateAndText(string? group, string? state, string? search, bool shown) =>
        Assert.Equal(shown, HostViews.Matches(HostViews.Summarize(Host(), State, Now), group, state, search));
}
