using System.Diagnostics;
using System.Text.Json;
using Belay.EndToEnd.Tests.Install;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Programs;

/// <summary>
/// An <see cref="InstalledHost"/> whose agent supervises programs: programs.conf is written
/// (0600) before the install, so the first agent starts them. Disposal uninstalls (the
/// agent stops its programs) and then kills whatever a program left, as a safety net.
/// </summary>
public sealed class ProgramsHost : IDisposable
{
    private readonly InstalledHost _host;

    public ProgramsHost(string programsConf, BelayBuild? build = null)
    {
        _host = new InstalledHost(build);
        Directory.CreateDirectory(Scratch);
        WriteConfig(programsConf);
        _host.PublishAgent("1.0.0");
        var install = _host.Install();
        Assert.True(install.ExitCode == 0, install + _host.ReadLog());
    }

    public InstalledHost Host => _host;
    public string Prefix => _host.Prefix;

    /// <summary>A folder for the programs' own files (scripts, pid files); under the prefix, so the safety net finds them.</summary>
    public string Scratch => Path.Combine(_host.Workspace.Root, "scratch");
    public string ConfigFile => Path.Combine(Prefix, "etc", "programs.conf");
    public string LogFile(string name) => Path.Combine(Prefix, "log", "programs", name + ".log");
    public string AgentLog => Path.Combine(Prefix, "log", "agent.log");

    public void WriteConfig(string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(ConfigFile)!);
        File.WriteAllText(ConfigFile, text.Replace("$SCRATCH", Scratch, StringComparison.Ordinal));
        File.SetUnixFileMode(ConfigFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    public ToolResult Belay(params string[] args) => _host.Run([.. args, "--prefix", Prefix, "--scope", "user"]);

    public JsonElement Program(string name) => Program(_host.Status(), name);

    public static JsonElement Program(JsonElement status, string name) =>
        status.GetProperty("programs").EnumerateArray().FirstOrDefault(p => p.GetProperty("name").GetString() == name);

    public static string? State(JsonElement program) =>
        program.ValueKind == JsonValueKind.Object ? program.GetProperty("state").GetString() : null;

    public static int Pid(JsonElement program) =>
        program.ValueKind == JsonValueKind.Object && program.GetProperty("pid").ValueKind == JsonValueKind.Number ? program.GetProperty("pid").GetInt32() : 0;

    /// <summary>Polls status until the program satisfies <paramref name="done"/>; fails with the status and the logs.</summary>
    public JsonElement WaitForProgram(string name, Func<JsonElement, bool> done, TimeSpan timeout, string what)
    {
        var watch = Stopwatch.StartNew();
        JsonElement program = default;
        while (watch.Elapsed < timeout)
        {
            program = Program(_host.Poll(), name);
            if (program.ValueKind == JsonValueKind.Object && done(program))
            {
                return program;
            }
            Thread.Sleep(100);
        }
        Assert.Fail($"{name} not {what} within {timeout.TotalSeconds:0} s. Last: {program}\nAgent log:\n{ReadAgentLog()}\nKeeper log:\n{_host.ReadLog()}");
        return program;
    }

    public string ReadAgentLog()
    {
        var dir = Path.Combine(Prefix, "log");
        return Directory.Exists(dir)
            ? string.Join("\n", Directory.EnumerateFiles(dir, "agent*.log").Order(StringComparer.Ordinal).Select(File.ReadAllText))
            : "(no agent log)";
    }

    /// <summary>Every file of a program's log, oldest first, concatenated.</summary>
    public string ReadProgramLog(string name)
    {
        var path = LogFile(name);
        var files = Enumerable.Range(1, 1000).Select(i => $"{path}.{i}").TakeWhile(File.Exists).Reverse().Append(path).Where(File.Exists);
        return string.Concat(files.Select(File.ReadAllText));
    }

    public void Dispose()
    {
        var pids = ProgramPids();
        try
        {
            _host.Dispose();
        }
        finally
        {
            foreach (var pid in pids)
            {
                ExternalTool.Run("kill", ["-9", "--", $"-{pid}"]);
            }
            ExternalTool.Run("pkill", ["-9", "-f", Scratch]);
        }
    }

    private List<int> ProgramPids()
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Prefix, "var", "programs", "state.json")));
            return [.. doc.RootElement.GetProperty("programs").EnumerateArray().Select(p => p.GetProperty("pid").GetInt32()).Where(p => p > 1)];
        }
        catch (Exception e) when (e is IOException or JsonException or KeyNotFoundException)
        {
            return [];
        }
    }
}
