using Belay.Core.Services;

namespace Belay.TestSupport;

/// <summary>
/// Stands in for systemctl, launchctl, svccfg and friends in unit tests: records every
/// command line in order and answers from rules (the first rule whose prefix matches the
/// command wins; anything else succeeds with no output), so a test can script "launchctl
/// print says not found" or "svccfg import says permission denied".
/// </summary>
public sealed class FakeProcessRunner : IProcessRunner
{
    private readonly List<(string[] Prefix, Func<IReadOnlyList<string>, Belay.Core.Services.ProcessResult> Answer)> _rules = [];

    /// <summary>Every command run, in order, each as one space-separated line.</summary>
    public List<string> Commands { get; } = [];

    /// <summary>Answers commands that start with <paramref name="prefix"/> (space-separated words).</summary>
    public FakeProcessRunner When(string prefix, int exitCode, string stdout = "", string stderr = "")
    {
        _rules.Insert(0, (prefix.Split(' '), _ => new Belay.Core.Services.ProcessResult(exitCode, stdout, stderr)));
        return this;
    }

    /// <summary>Answers commands that start with <paramref name="prefix"/> with a function of the command (for state that changes).</summary>
    public FakeProcessRunner When(string prefix, Func<IReadOnlyList<string>, Belay.Core.Services.ProcessResult> answer)
    {
        _rules.Insert(0, (prefix.Split(' '), answer));
        return this;
    }

    public Belay.Core.Services.ProcessResult Run(IReadOnlyList<string> command, TimeSpan? timeout = null)
    {
        Commands.Add(string.Join(' ', command));
        foreach (var (prefix, answer) in _rules)
        {
            if (command.Count >= prefix.Length && prefix.Select((p, i) => p == command[i]).All(x => x))
            {
                return answer(command);
            }
        }
        return new Belay.Core.Services.ProcessResult(0, "", "");
    }
}
