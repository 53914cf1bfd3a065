using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Programs;

/// <summary>
/// `belay-agent exec --go-on-stdin`, how the agent starts every program and hook: the command runs only once the
/// agent has recorded the pid and says go (one byte on stdin); an agent killed between the start and the record
/// closes the helper's stdin by dying, and the helper exits without running anything, so no program runs that
/// the next agent does not know of (and would start a second time).
/// </summary>
public sealed class ExecGoTests
{
    [Fact]
    public void TheCommandRunsOnlyAfterTheGoAndNeverWhenTheAgentDiedBeforeIt()
    {
        using var dir = new TempDir();
        var marker = dir.Combine("ran");
        string[] args = ["exec", "--go-on-stdin", "--dir", dir.Path, "--", "touch", marker];

        var orphan = ExternalTool.Run(BelayBinaries.Agent, args); // stdin closed without a byte: the agent is gone
        Assert.True(orphan.ExitCode == 125, orphan.ToString());
        Assert.Contains("ended before it recorded it", orphan.StdErr, StringComparison.Ordinal);
        Assert.False(File.Exists(marker));

        var go = ExternalTool.Run(BelayBinaries.Agent, args, stdin: "\u0001");
        Assert.True(go.ExitCode == 0, go.ToString());
        Assert.True(File.Exists(marker));
    }
}
