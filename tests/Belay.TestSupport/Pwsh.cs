using Xunit;

namespace Belay.TestSupport;

/// <summary>
/// PowerShell 7 from the repository's dotnet tool manifest (.config/dotnet-tools.json, the
/// PowerShell package): <c>dotnet tool run pwsh</c>, restored by ./build.sh (dotnet tool
/// restore). A test that needs it skips loudly when it is not restored (fails with
/// BELAY_REQUIRE_TOOLS=1).
/// </summary>
public static class Pwsh
{
    private static readonly Lazy<string?> Version = new(() =>
    {
        try
        {
            var probe = Run("$PSVersionTable.PSVersion.ToString()");
            return probe.ExitCode == 0 ? probe.StdOut.Trim() : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    });

    /// <summary>pwsh's version; skips the test (or fails it in CI) when pwsh cannot run.</summary>
    public static string Require()
    {
        if (Version.Value is { } version)
        {
            return version;
        }
        var reason = "SKIPPED LOUDLY: pwsh (the PowerShell dotnet tool in .config/dotnet-tools.json) does not run; run 'dotnet tool restore' in the repository (./build.sh does).";
        if (ExternalTool.ToolsRequired)
        {
            Assert.Fail(reason + " BELAY_REQUIRE_TOOLS=1, so this is a failure.");
        }
        Assert.Skip(reason);
        return null!;
    }

    /// <summary><c>pwsh -NoProfile -NonInteractive -Command COMMAND</c>, from the repository root (where the tool manifest is).</summary>
    public static ToolResult Run(string command, IDictionary<string, string?>? environment = null, TimeSpan? timeout = null) =>
        Invoke(["-Command", command], environment, timeout);

    /// <summary><c>pwsh -NoProfile -NonInteractive -File SCRIPT ARGS</c>.</summary>
    public static ToolResult RunFile(string script, IEnumerable<string> args, IDictionary<string, string?>? environment = null, TimeSpan? timeout = null) =>
        Invoke(["-File", script, .. args], environment, timeout);

    /// <summary><paramref name="value"/> as a single-quoted PowerShell string.</summary>
    public static string Quote(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    private static ToolResult Invoke(IEnumerable<string> args, IDictionary<string, string?>? environment, TimeSpan? timeout)
    {
        var env = new Dictionary<string, string?>(environment ?? new Dictionary<string, string?>(), StringComparer.Ordinal)
        {
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["POWERSHELL_TELEMETRY_OPTOUT"] = "1",
            ["POWERSHELL_UPDATECHECK"] = "Off",
            ["NO_COLOR"] = "1",
        };
        return ExternalTool.Run("dotnet", ["tool", "run", "pwsh", "--", "-NoProfile", "-NonInteractive", .. args],
            workingDirectory: BelayBinaries.RepoRoot, environment: env, timeout: timeout ?? TimeSpan.FromMinutes(3));
    }
}
