using System.Collections;
using System.Text;
using Belay.Core.Deploy;
using Belay.Core.Programs.Windows;
using Belay.Core.Tests.Programs.Windows;

namespace Belay.Core.Tests.Deploy;

/// <summary>The Windows hook runner as Windows would see it: the Win32 calls through <see cref="FakeProcessApi"/>, the hook's output and exit through a fake <see cref="IHookProcessIo"/>.</summary>
public sealed class WindowsHookRunnerTests
{
    private const string System32 = @"C:\Windows\System32";
    private const string Release = @"C:\ProgramData\Belay\apps\releases\web\1.0.0";

    private readonly FakeProcessApi _api = new();
    private readonly FakeIo _io;
    private readonly Log _log = new();

    public WindowsHookRunnerTests() => _io = new FakeIo(_api);

    private WindowsHookRunner Runner() => new(_api, _io, _log, TimeProvider.System)
    {
        SystemDirectory = System32,
        BaseEnvironment = new Hashtable { ["PATH"] = @"C:\Windows", ["BELAY_KEEPER_PID"] = "12", ["Path2"] = "x" },
    };

    private static HookRun Hook(string file, TimeSpan? timeout = null, string? group = null) => new()
    {
        App = "web",
        Step = "pre_start",
        Command = [Release + "\\" + file, "--fast"],
        Directory = Release,
        Group = group,
        Environment = new Dictionary<string, string> { ["BELAY_STEP"] = "pre_start", ["TOKEN"] = "hunter22" },
        Timeout = timeout ?? TimeSpan.FromMinutes(1),
        Redact = ["hunter22"],
    };

    [Fact]
    public async Task A_cmd_hook_runs_under_cmd_in_a_job_of_its_own_and_its_output_reaches_the_deploy_log_redacted()
    {
        _io.Output = ["hello\r\nthe token is hun", "ter22\nno newline at the end"];
        _io.ExitCode = 0;
        (int, long)? started = null;

        var result = await Runner().RunAsync(Hook("hooks/pre_start.cmd"), (pid, time) => started = (pid, time), CancellationToken.None);

        Assert.True(result.Succeeded, result.Error);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal((4242, 777L), started);
        Assert.Equal(["hello\r\n", "the token is ***\n", "no newline at the end\n"], _log.Written);
        Assert.Equal("hello\r\nthe token is ***\nno newline at the end\n", result.Output);
        var create = Assert.Single(_api.Calls, c => c.StartsWith("CreateProcess ", StringComparison.Ordinal));
        Assert.Contains($"CreateProcess {System32}\\cmd.exe /d /s /c \"{Release}\\hooks\\pre_start.cmd --fast\" flags 0x", create, StringComparison.Ordinal);
        Assert.Contains($"dir {Release} ", create, StringComparison.Ordinal);
        // Its own job, kill-on-close and nothing else (no breakaway), assigned before the hook's thread runs.
        var order = _api.Calls.Select(c => c.Split(' ')[0]).ToList();
        Assert.Contains("SetJobLimits 100 0x2000", _api.Calls);
        Assert.True(order.IndexOf("AssignToJob") < order.IndexOf("ResumeThread"));
        Assert.Contains("TerminateJob 100 1", _api.Calls); // what the hook left in its job goes with it
        Assert.Empty(_api.Open); // job, process, pipe: every handle closed
        Assert.Contains(_log.Lines, l => l.Contains("pre_start: exited with code 0", StringComparison.Ordinal));
        Assert.Contains(_log.Lines, l => l.Contains($"{Release}\\hooks/pre_start.cmd --fast", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_hook_gets_the_agents_environment_without_the_keepers_variables_and_its_own_on_top()
    {
        _io.ExitCode = 0;
        await Runner().RunAsync(Hook("hooks/pre_start.cmd"), null, CancellationToken.None);

        Assert.Equal("BELAY_STEP=pre_start\0PATH=C:\\Windows\0Path2=x\0TOKEN=hunter22\0\0", _api.Environment);
    }

    [Fact]
    public async Task A_hook_that_exits_nonzero_fails_with_its_code()
    {
        _io.Output = ["boom\n"];
        _io.ExitCode = 3;

        var result = await Runner().RunAsync(Hook("hooks/pre_start.exe"), null, CancellationToken.None);

        Assert.False(result.Succeeded);
        Assert.Equal(3, result.ExitCode);
        Assert.False(result.TimedOut);
        Assert.Equal("boom\n", result.Output);
        Assert.Contains($"CreateProcess {Release}\\hooks\\pre_start.exe --fast flags", string.Join('\n', _api.Calls), StringComparison.Ordinal);
        Assert.Contains(_log.Warnings, l => l.Contains("pre_start: exited with code 3", StringComparison.Ordinal));
        Assert.Empty(_api.Open);
    }

    [Fact]
    public async Task A_hook_past_its_timeout_has_its_job_terminated()
    {
        _io.Output = ["started\n"];
        _io.ExitCode = null; // runs until its job is terminated

        var result = await Runner().RunAsync(Hook("hooks/pre_start.ps1", TimeSpan.FromMilliseconds(300)), null, CancellationToken.None);

        Assert.True(result.TimedOut);
        Assert.False(result.Succeeded);
        Assert.Equal((int)ProgramJobs.TerminatedExitCode, result.ExitCode);
        Assert.Equal("started\n", result.Output);
        Assert.Contains("TerminateJob 100 1", _api.Calls);
        Assert.Contains(_log.Warnings, l => l.Contains("pre_start: did not finish within 0.3 s; terminated its job", StringComparison.Ordinal));
        Assert.Contains($"{System32}\\WindowsPowerShell\\v1.0\\powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -File {Release}\\hooks\\pre_start.ps1 --fast",
            string.Join('\n', _api.Calls), StringComparison.Ordinal);
        Assert.Empty(_api.Open);
    }

    [Fact]
    public async Task A_stopping_agent_terminates_the_hooks_job_and_is_told_so()
    {
        _io.ExitCode = null;
        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Runner().RunAsync(Hook("hooks/pre_start.cmd"), null, stop.Token));

        Assert.Contains("TerminateJob 100 1", _api.Calls);
        Assert.Empty(_api.Open);
    }

    [Theory]
    [InlineData("hooks/pre_start.sh")]
    [InlineData("hooks/pre_start")]
    [InlineData("hooks/pre_start.py")]
    public async Task A_hook_Windows_cannot_run_is_refused_naming_the_file_and_what_to_do(string file)
    {
        var result = await Runner().RunAsync(Hook(file), null, CancellationToken.None);

        Assert.Null(result.ExitCode);
        Assert.False(result.Succeeded);
        Assert.Contains($"{file} cannot run on Windows: a hook or health command there must be a .exe, .com, .cmd, .bat or .ps1 file", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(_api.Calls, c => c.StartsWith("CreateProcess", StringComparison.Ordinal));
        Assert.Empty(_api.Open);
    }

    [Fact]
    public async Task A_group_is_refused_on_Windows()
    {
        var result = await Runner().RunAsync(Hook("hooks/pre_start.cmd", group: "web"), null, CancellationToken.None);

        Assert.Contains("group = web: Windows has no primary group to set", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(_api.Calls, c => c.StartsWith("CreateProcess", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_hook_that_cannot_start_says_why_and_leaves_no_handle_open()
    {
        _api.FailCreate = 193;

        var result = await Runner().RunAsync(Hook("hooks/pre_start.exe"), null, CancellationToken.None);

        Assert.Null(result.ExitCode);
        Assert.Contains("not a valid Windows program (Windows error 193)", result.Error, StringComparison.Ordinal);
        Assert.Empty(_api.Open);
    }

    [Theory]
    [InlineData("curl", "curl -fsS http://localhost:8080/")]
    [InlineData("curl.exe", "curl.exe -fsS http://localhost:8080/")]
    [InlineData("bin/check.bat", @"C:\Windows\System32\cmd.exe /d /s /c ""bin\check.bat -fsS http://localhost:8080/""")]
    public void Health_commands_and_hooks_run_by_their_extension(string file, string expected) =>
        Assert.Equal(expected, WindowsHookCommand.CommandLine([file, "-fsS", "http://localhost:8080/"], System32));

    private sealed class FakeIo(FakeProcessApi api) : IHookProcessIo
    {
        public string[] Output { get; set; } = [];

        /// <summary>The exit code the hook ends with at once; null: it runs until its job is terminated.</summary>
        public uint? ExitCode { get; set; }

        public Task WaitForExitAsync(nint process)
        {
            if (ExitCode is { } code)
            {
                api.ExitCodes[process] = code;
                return Task.CompletedTask;
            }
            var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            api.JobTerminated = (_, exit) =>
            {
                api.ExitCodes[process] = exit;
                ended.TrySetResult();
            };
            return ended.Task;
        }

        public HookPipeReading Read(nint pipe, HookData onData)
        {
            Assert.Contains(pipe, api.Open);
            foreach (var chunk in Output)
            {
                onData(Encoding.UTF8.GetBytes(chunk));
            }
            return new HookPipeReading(Task.CompletedTask, () => { });
        }
    }

    private sealed class Log : IDeployLog
    {
        public List<string> Lines { get; } = [];
        public List<string> Warnings { get; } = [];
        public List<string> Written { get; } = [];

        public void Write(string app, string message, bool warning)
        {
            lock (this)
            {
                (warning ? Warnings : Lines).Add(message);
            }
        }

        public void Output(string app, string text)
        {
            lock (this)
            {
                Written.Add(text);
            }
        }
    }
}
