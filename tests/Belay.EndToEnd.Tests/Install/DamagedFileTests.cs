using System.Text.Json.Nodes;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Install;

/// <summary>
/// Damaged or planted files: every message names the file, the field and what is allowed, with no stack
/// trace; the remedy a message names works (belay doctor --repair, belay install); what only reports
/// (agent.json, the programs' state) does not stop belay status.
/// </summary>
public sealed class DamagedFileTests : IDisposable
{
    private readonly InstalledHost _host = new();

    public void Dispose() => _host.Dispose();

    private string ConfigFile => Path.Combine(_host.Prefix, "etc", "config.json");
    private string StateFile => Path.Combine(_host.Prefix, "var", "state.json");

    private ToolResult Belay(params string[] args) => InstalledHost.Belay([.. args, "--prefix", _host.Prefix, "--scope", "user"]);

    [Fact]
    public void ACorruptStateJsonIsRepairedByTheCommandItsMessageNames()
    {
        _host.PublishAgent("1.0.0");
        Assert.Equal(0, _host.Install().ExitCode);
        Assert.Equal(0, Belay("service", "stop").ExitCode);
        File.WriteAllBytes(StateFile, new byte[100]); // a write cut short by a power loss, on a file system that zero-fills

        var status = Belay("status");
        Assert.Equal(1, status.ExitCode);
        Assert.Contains($"{StateFile}: it is not JSON (it holds NUL bytes", status.StdErr, StringComparison.Ordinal);
        Assert.Contains("belay doctor --repair", status.StdErr, StringComparison.Ordinal);
        AssertNoTrace(status);

        var doctor = Belay("doctor");
        Assert.Equal(1, doctor.ExitCode);
        Assert.Contains($"FAIL  files: {StateFile}", doctor.StdOut, StringComparison.Ordinal);
        Assert.Contains("fix: belay doctor --repair", doctor.StdOut, StringComparison.Ordinal);

        var repair = Belay("doctor", "--repair");
        Assert.Contains($"repaired: rebuilt {StateFile}: current 1.0.0", repair.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain($"FAIL  files: {StateFile}", repair.StdOut, StringComparison.Ordinal);
        AssertNoTrace(repair);
        Assert.True(File.Exists(StateFile + ".damaged"));
        Assert.Equal(0, Belay("service", "start").ExitCode);
        _host.WaitFor(s => InstalledHost.On(s, "1.0.0"), TimeSpan.FromSeconds(30), "running again after the repair");

        // The other remedy the message names: belay install, with the same options, over a damaged state.
        Assert.Equal(0, Belay("service", "stop").ExitCode);
        File.WriteAllText(StateFile, "{ \"schema\": 1, \"current\": ");
        var install = _host.Install();
        Assert.True(install.ExitCode == 0, install.ToString());
        Assert.Contains($"rebuilt {StateFile}", install.StdOut, StringComparison.Ordinal);
        _host.WaitFor(s => InstalledHost.On(s, "1.0.0"), TimeSpan.FromSeconds(30), "running again after belay install");
    }

    [Fact]
    public void PlantedNullsAndWrongTypesAreNamedNeverAStackTrace()
    {
        _host.PublishAgent("1.0.0");
        Assert.Equal(0, _host.Install().ExitCode);
        var good = File.ReadAllText(ConfigFile);
        foreach (var (field, planted, said) in new (string, string?, string)[]
        {
            ("feeds", null, "field feeds: null is not allowed; expected a list of one or more feed URLs"),
            ("rootKeys", null, "field rootKeys: null is not allowed"),
            ("channel", null, "field channel: null is not allowed"),
            ("feeds", "\"https://x/\"", "field feeds: a string (\"https://x/\") is not allowed"),
            ("maxTries", "\"3\"", "field maxTries: a string (\"3\") is not allowed; expected a whole number from 1 to 100"),
            ("paths", "null", "field paths: null is not allowed"),
            ("scope", "\"everyone\"", "field scope: 'everyone' is not allowed"),
        })
        {
            var node = JsonNode.Parse(good)!.AsObject();
            node[field] = planted is null ? null : JsonNode.Parse(planted);
            File.WriteAllText(ConfigFile, node.ToJsonString());
            foreach (var command in new[] { "status", "doctor", "update" })
            {
                var result = Belay(command);
                Assert.True(result.ExitCode == 1, $"{command} with {field} = {planted ?? "null"}: {result}");
                Assert.Contains($"{ConfigFile}: {said}", result.StdErr + result.StdOut, StringComparison.Ordinal);
                AssertNoTrace(result);
            }
        }
        File.WriteAllText(ConfigFile, good);

        // Files that only report: belay status goes on, and says what is wrong with them.
        var agentJson = Path.Combine(_host.Prefix, "var", "agent.json");
        var programs = Path.Combine(_host.Prefix, "var", "programs", "state.json");
        Assert.Equal(0, Belay("service", "stop").ExitCode);
        File.WriteAllText(agentJson, "{ \"pid\": null, \"version\": 7 }");
        Directory.CreateDirectory(Path.GetDirectoryName(programs)!);
        File.WriteAllText(programs, "{ \"agentPid\": 1, \"programs\": [ null, { \"name\": null } ] }");
        var status = Belay("status");
        Assert.True(status.StdOut.Contains("version:", StringComparison.Ordinal), status.ToString()); // it reported, whatever the keeper being down makes its exit code
        Assert.Contains($"{agentJson}: field pid: null is not allowed", status.StdErr, StringComparison.Ordinal);
        Assert.Contains($"{programs}: field programs[0]: null is not allowed", status.StdErr, StringComparison.Ordinal);
        Assert.Contains($"{programs}: field programs[1].name: null is not allowed", status.StdErr, StringComparison.Ordinal);
        AssertNoTrace(status);

        // And the agent runs on them (it replaces agent.json, and starts afresh what it cannot adopt).
        Assert.Equal(0, Belay("service", "start").ExitCode);
        _host.WaitFor(s => InstalledHost.On(s, "1.0.0"), TimeSpan.FromSeconds(30), "running on the damaged files");
        Assert.DoesNotContain("Exception", _host.ReadLog(), StringComparison.Ordinal);
    }

    private static void AssertNoTrace(ToolResult result)
    {
        var all = result.StdOut + result.StdErr;
        foreach (var word in (string[])["   at ", "Exception", "internal error", "Deserialize", "Path: $"])
        {
            Assert.DoesNotContain(word, all, StringComparison.Ordinal);
        }
    }
}
