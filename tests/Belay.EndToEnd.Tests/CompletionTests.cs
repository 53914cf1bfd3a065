using Belay.TestSupport;

namespace Belay.EndToEnd.Tests;

/// <summary>
/// `belay completion SHELL`: each script is loaded by the real shell and asked to complete, as a
/// user pressing Tab would: a command, an option of that command, a value of an option that
/// takes one of a few words, and a subcommand (service print).
/// </summary>
public sealed class CompletionTests : IDisposable
{
    private readonly TempDir _dir = new("belay-completion-");

    public void Dispose() => _dir.Dispose();

    private string Script(string shell, string program = "belay")
    {
        var result = BelayBinaries.Run(Path.Combine(BelayBinaries.Directory, program), "completion", shell);
        Assert.True(result.ExitCode == 0, result.ToString());
        var path = _dir.Combine($"{program}.{(shell == "pwsh" ? "ps1" : shell)}"); // PowerShell dot-sources .ps1 files only
        File.WriteAllText(path, result.StdOut);
        return path;
    }

    /// <summary>What bash offers for the words typed so far (the last one being completed).</summary>
    private static string Bash(string script, params string[] words)
    {
        var bash = ExternalTool.Require("bash", "bash");
        var array = string.Join(' ', words.Select(w => "'" + w + "'"));
        var run = ExternalTool.Run(bash, ["--norc", "-c",
            $"source '{script}'; COMP_WORDS=({array}); COMP_CWORD={words.Length - 1}; COMP_LINE='{string.Join(' ', words)}'; _belay_complete; printf '%s\\n' \"${{COMPREPLY[@]}}\""]);
        Assert.True(run.ExitCode == 0, run.ToString());
        return run.StdOut;
    }

    [Fact]
    public void BashCompletesCommandsOptionsTheirValuesAndSubcommands()
    {
        var script = Script("bash");
        Assert.Equal("install\n", Bash(script, "belay", "inst"));
        Assert.Contains("--poll-interval\n", Bash(script, "belay", "install", "--po"), StringComparison.Ordinal);
        Assert.Equal("system\nuser\n", Bash(script, "belay", "install", "--scope", ""));
        Assert.Contains("systemd\n", Bash(script, "belay", "install", "--service-manager", "sys"), StringComparison.Ordinal);
        Assert.Equal("print\n", Bash(script, "belay", "service", "pr"));
        Assert.Contains("--service-manager\n", Bash(script, "belay", "service", "print", "--serv"), StringComparison.Ordinal);
        Assert.Equal("bash\n", Bash(script, "belay", "completion", "ba"));
        // After an option that takes a path, nothing is offered: bash's own file completion applies (complete -o default).
        Assert.Equal("\n", Bash(script, "belay", "install", "--prefix", ""));
    }

    [Fact]
    public void BelayReleaseCompletesItsOwnCommands()
    {
        var script = Script("bash", "belay-release");
        var bash = ExternalTool.Require("bash", "bash");
        var run = ExternalTool.Run(bash, ["--norc", "-c",
            $"source '{script}'; COMP_WORDS=(belay-release ya); COMP_CWORD=1; _belay_release_complete; printf '%s\\n' \"${{COMPREPLY[@]}}\""]);
        Assert.Equal("yank\n", run.StdOut);
    }

    [Fact]
    public void ZshLoadsItsScriptAndCompletesThroughBashcompinit()
    {
        var zsh = ExternalTool.Require("zsh", "zsh");
        var script = Script("zsh");
        var syntax = ExternalTool.Run(zsh, ["-n", script]);
        Assert.True(syntax.ExitCode == 0, syntax.ToString());
        var run = ExternalTool.Run(zsh, ["-f", "-c",
            $"autoload -U compinit && compinit -u; source '{script}'; setopt ksharrays; COMP_WORDS=(belay sta); COMP_CWORD=1; _belay_complete; print -l ${{COMPREPLY[@]}}"]);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("status", run.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void FishCompletesCommandsOptionsAndValues()
    {
        var fish = ExternalTool.Require("fish", "fish");
        var script = Script("fish");
        string Complete(string line)
        {
            var run = ExternalTool.Run(fish, ["--no-config", "-c", $"source '{script}'; complete -C '{line}'"]);
            Assert.True(run.ExitCode == 0, run.ToString());
            return run.StdOut;
        }
        Assert.StartsWith("install\t", Complete("belay inst"), StringComparison.Ordinal);
        Assert.Contains("--trial-deadline", Complete("belay install --tri"), StringComparison.Ordinal);
        Assert.Contains("user", Complete("belay install --scope "), StringComparison.Ordinal);
        Assert.StartsWith("print\t", Complete("belay service pri"), StringComparison.Ordinal);
    }

    [Fact]
    public void PowerShellCompletesCommandsOptionsAndValues()
    {
        Pwsh.Require();
        var script = Script("pwsh");
        string Complete(string line)
        {
            // PowerShell asks a native completer only for a command it finds: belay must be on PATH.
            var path = new Dictionary<string, string?> { ["PATH"] = BelayBinaries.Directory + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH") };
            var run = Pwsh.Run($". {Pwsh.Quote(script)}; (TabExpansion2 -inputScript {Pwsh.Quote(line)} -cursorColumn {line.Length}).CompletionMatches.CompletionText", path);
            Assert.True(run.ExitCode == 0, run.ToString());
            return run.StdOut;
        }
        Assert.Equal("install", Complete("belay inst").Trim());
        Assert.Contains("--wait", Complete("belay install --wa"), StringComparison.Ordinal);
        Assert.Contains("system", Complete("belay install --scope "), StringComparison.Ordinal);
        Assert.Equal("print", Complete("belay service pr").Trim());
    }
}
