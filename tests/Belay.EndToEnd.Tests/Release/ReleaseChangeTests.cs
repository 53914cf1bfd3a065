using System.Text.Json;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Release;

/// <summary>
/// belay-release yank, rollout and list with the shipped binary: each change is a new signed
/// manifest (sequence + 1) that verify-feed and the stock minisign still accept.
/// </summary>
public sealed class ReleaseChangeTests : IDisposable
{
    private readonly ReleaseWorkspace _ws = new();

    public ReleaseChangeTests()
    {
        Assert.Equal(0, _ws.Init().ExitCode);
        Assert.Equal(0, _ws.Publish("1.0.0").ExitCode);
        Assert.Equal(0, _ws.Publish("1.1.0", "--rollout", "10").ExitCode);
    }

    public void Dispose() => _ws.Dispose();

    private void AssertStillVerifies()
    {
        var verify = _ws.VerifyFeed();
        Assert.True(verify.ExitCode == 0, verify.ToString());
        var minisign = ExternalTool.Require("minisign", "minisign");
        var stock = ExternalTool.Run(minisign, ["-V", "-p", _ws.ReleasePub, "-m", Path.Combine(_ws.Feed, "channels", "stable.json")]);
        Assert.True(stock.ExitCode == 0, stock.ToString());
    }

    private JsonElement Listed()
    {
        var list = ReleaseWorkspace.Release("list", "--feed", _ws.Feed, "--json");
        Assert.True(list.ExitCode == 0, list.ToString());
        using var doc = JsonDocument.Parse(list.StdOut);
        return doc.RootElement.Clone();
    }

    [Fact]
    public void RolloutRaisesAReleasesPercentInANewSignedManifest()
    {
        var rollout = ReleaseWorkspace.Release("rollout", "1.1.0", "--percent", "50", "--feed", _ws.Feed, "--key", _ws.ReleaseKey);
        Assert.True(rollout.ExitCode == 0, rollout.ToString());
        Assert.Contains("version 1.1.0 rolled out to 50% (was 10%)", rollout.StdOut, StringComparison.Ordinal);
        AssertStillVerifies();
        var channel = Listed()[0];
        Assert.Equal(3, channel.GetProperty("sequence").GetInt64());
        Assert.Equal(50, channel.GetProperty("releases")[1].GetProperty("rollout").GetInt32());
    }

    [Fact]
    public void YankWithdrawsAReleaseListShowsItAndTheFeedStillVerifies()
    {
        var yank = ReleaseWorkspace.Release("yank", "1.1.0", "--feed", _ws.Feed, "--key", _ws.ReleaseKey);
        Assert.True(yank.ExitCode == 0, yank.ToString());
        AssertStillVerifies();

        var text = ReleaseWorkspace.Release("list", "--feed", _ws.Feed);
        Assert.True(text.ExitCode == 0, text.ToString());
        var lines = text.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("channel stable: sequence 3, expires ", lines[0], StringComparison.Ordinal);
        Assert.Matches(@"^  VERSION +PUBLISHED +ROLLOUT +YANKED +RIDS$", lines[1]);
        Assert.Matches(@"^  1\.0\.0 +\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z +100% +- +linux-x64$", lines[2]);
        Assert.Matches(@"^  1\.1\.0 +\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z +0% +\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z +linux-x64$", lines[3]);

        var yanked = Listed()[0].GetProperty("releases")[1];
        Assert.Equal(JsonValueKind.String, yanked.GetProperty("yanked").ValueKind);
        var refused = ReleaseWorkspace.Release("rollout", "1.1.0", "--percent", "100", "--feed", _ws.Feed, "--key", _ws.ReleaseKey);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("yank 1.1.0 --undo", refused.StdErr, StringComparison.Ordinal);

        var undo = ReleaseWorkspace.Release("yank", "1.1.0", "--undo", "--feed", _ws.Feed, "--key", _ws.ReleaseKey);
        Assert.True(undo.ExitCode == 0, undo.ToString());
        AssertStillVerifies();
        Assert.Equal(JsonValueKind.Null, Listed()[0].GetProperty("releases")[1].GetProperty("yanked").ValueKind);
    }

    [Fact]
    public void AYankedVersionIsNeverRepublishedWithOtherBytes()
    {
        Assert.Equal(0, ReleaseWorkspace.Release("yank", "1.1.0", "--feed", _ws.Feed, "--key", _ws.ReleaseKey).ExitCode);
        var again = _ws.Publish("1.1.0");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already published", again.StdErr, StringComparison.Ordinal);
    }
}
