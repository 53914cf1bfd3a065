using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Hub;

/// <summary>
/// The shipped agent and hub together: enrollment at install, the connection, a live tail with
/// its credit window, the four-stream cap, and the credential's file. One fleet for the class
/// (a hub and one host); each test leaves it as it found it.
/// </summary>
public sealed class HubAgentTests : IClassFixture<HubAgentTests.Fixture>
{
    private readonly Fixture _f;

    public HubAgentTests(Fixture fixture)
    {
        _f = fixture;
    }

    public sealed class Fixture : IDisposable
    {
        public Fixture()
        {
            Fleet = new HubFleet();
            Token = Fleet.Hub.EnrollToken("web");
            Install = Fleet.Install("web1", """
                [program:ticker]
                command = sh -c 'i=0; while :; do i=$((i+1)); echo "tick $i $(date +%s%N)"; sleep 0.1; done'

                [program:burst]
                command = sh -c 'while :; do if [ -f $SCRATCH/go ]; then rm -f $SCRATCH/go; seq -f "burst line %07.0f with some padding to make it longer" 1 200000; echo BURST-DONE; fi; sleep 0.2; done'
                """, Token);
            Assert.True(Install.ExitCode == 0, Install + Fleet.ReadLogs("web1"));
            HubId = Fleet.HubSettings("web1").GetProperty("hostId").GetString()!;
            Fleet.Hub.WaitForHosts(Fleet.AdminToken, hosts => hosts.Any(h => h.GetProperty("id").GetString() == HubId && HubProcess.Connected(h)),
                TimeSpan.FromSeconds(60), "showing web1 connected");
        }

        public HubFleet Fleet { get; }
        public string Token { get; }
        public ToolResult Install { get; }
        public string HubId { get; }

        public void Dispose() => Fleet.Dispose();
    }

    private string LogPath(string program, string stream = "stdout", int lines = 5) =>
        $"api/v1/hosts/{_f.HubId}/logs/{program}?stream={stream}&lines={lines}";

    [Fact]
    public async Task AnEnrolledHostShowsInTheFleetConnectedWithItsGroupVersionProgramsAndMacs()
    {
        Assert.Contains("enrolled with the hub", _f.Install.StdOut, StringComparison.Ordinal);
        _f.Fleet.WaitUntil(() =>
        {
            // A program is "starting" for its first second, then "running": the agent sends a state on each change.
            var host = _f.Fleet.Host(_f.HubId).GetProperty("host");
            return host.GetProperty("programs").GetArrayLength() == 2
                && host.GetProperty("programs").EnumerateArray().Any(p => p.GetProperty("name").GetString() == "ticker" && p.GetProperty("state").GetString() == "running");
        }, TimeSpan.FromSeconds(30), "reporting its two programs, ticker running", "web1");
        var detail = _f.Fleet.Host(_f.HubId);
        var host = detail.GetProperty("host");
        Assert.True(host.GetProperty("connected").GetBoolean());
        Assert.Equal("web", host.GetProperty("group").GetString());
        Assert.Equal("1.0.0", host.GetProperty("version").GetString());
        Assert.Equal(Environment.MachineName, host.GetProperty("hostname").GetString());
        Assert.Equal(Belay.Core.Hosting.HostFacts.ReadMacs(), [.. host.GetProperty("macs").EnumerateArray().Select(m => m.GetString()!)]);
        Assert.Contains(host.GetProperty("programs").EnumerateArray(), p => p.GetProperty("name").GetString() == "ticker" && p.GetProperty("state").GetString() == "running");
        Assert.NotEqual(JsonValueKind.Null, host.GetProperty("lastCheck").ValueKind);
        // The whole status object came along, with the keys of belay status --json.
        var state = detail.GetProperty("state");
        foreach (var key in new[] { "version", "previous", "trial", "bad", "channel", "feed", "lastCheck", "agent", "host", "programs", "group", "apps" })
        {
            Assert.True(state.TryGetProperty(key, out _), $"state has no '{key}': {state}");
        }
        // Every key of the state is a key of belay status --json, of the same kind; the host's facts have the same keys.
        var status = _f.Fleet.Belay("web1", "status", "--json");
        using var statusDoc = JsonDocument.Parse(status.StdOut);
        foreach (var property in state.EnumerateObject())
        {
            Assert.True(statusDoc.RootElement.TryGetProperty(property.Name, out var mine), $"belay status --json has no '{property.Name}', which the hub's state has: {status.StdOut}");
            Assert.True(property.Value.ValueKind == mine.ValueKind || property.Value.ValueKind == JsonValueKind.Null || mine.ValueKind == JsonValueKind.Null,
                $"'{property.Name}' is {property.Value.ValueKind} in the hub's state, {mine.ValueKind} in belay status --json");
        }
        Assert.Equal(statusDoc.RootElement.GetProperty("host").EnumerateObject().Select(p => p.Name), state.GetProperty("host").EnumerateObject().Select(p => p.Name));
        // Enrolled with a token for group web (and no --group): the host is in group web, for its deployments as for the hub.
        Assert.Equal(("web", "web"), (state.GetProperty("group").GetString(), statusDoc.RootElement.GetProperty("group").GetString()));
        Assert.Equal(statusDoc.RootElement.GetProperty("apps").GetArrayLength(), state.GetProperty("apps").GetArrayLength());
        // (an app's object is compared key by key with belay status --json in HubDeployTests, where an app is deployed)
        // Agents cannot use the operator API with their credential, nor operators the agents' path with theirs.
        using var asAgent = _f.Fleet.Hub.Client(_f.Fleet.HubSettings("web1").GetProperty("credential").GetString()!);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await asAgent.GetAsync("api/v1/hosts", TestContext.Current.CancellationToken)).StatusCode);
        using var asOperator = _f.Fleet.Hub.Client(_f.Fleet.AdminToken);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await asOperator.GetAsync("agent/v1/connect", TestContext.Current.CancellationToken)).StatusCode);
    }

    [Fact]
    public void TheCredentialFileIsOwnerOnlyAndNoSecretIsInAnyLog()
    {
        var path = _f.Fleet.HubSettingsPath("web1");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        var settings = _f.Fleet.HubSettings("web1");
        var credential = settings.GetProperty("credential").GetString()!;
        Assert.StartsWith("bhc_", credential, StringComparison.Ordinal);
        Assert.Equal(_f.Fleet.Hub.Url, settings.GetProperty("url").GetString());
        Assert.Equal("web", settings.GetProperty("group").GetString());
        var text = File.ReadAllText(path);
        Assert.DoesNotContain(_f.Token, text, StringComparison.Ordinal);
        // Nowhere else: not in config.json, not in what install printed, not in any log of the host or the hub.
        var everything = string.Join("\n", _f.Install.StdOut, _f.Install.StdErr, _f.Fleet.ReadLogs("web1"), _f.Fleet.Hub.Output,
            File.ReadAllText(Path.Combine(_f.Fleet.Prefix("web1"), "etc", "config.json")), _f.Fleet.Belay("web1", "status", "--json").StdOut);
        Assert.DoesNotContain(credential, everything, StringComparison.Ordinal);
        Assert.DoesNotContain(_f.Token, everything, StringComparison.Ordinal);
        Assert.DoesNotContain(credential[4..], everything, StringComparison.Ordinal);
        // The hub keeps only hashes: the credential and the token are not in its database.
        var db = File.ReadAllBytes(Path.Combine(_f.Fleet.Hub.Data, "hub.db"));
        var dbText = System.Text.Encoding.UTF8.GetString(db);
        Assert.DoesNotContain(credential, dbText, StringComparison.Ordinal);
        Assert.DoesNotContain(_f.Token, dbText, StringComparison.Ordinal);
    }

    [Fact]
    public void ALiveTailShowsTheLastLinesThenEachNewLineAndIsAudited()
    {
        using var tail = new SseClient(_f.Fleet.Hub.BaseUri, _f.Fleet.AdminToken, LogPath("ticker", lines: 3));
        tail.WaitFor(e => e.Any(x => x.Type == "data") && e.Any(x => x.Type == "tail"), TimeSpan.FromSeconds(20), "the tail event and the last lines");
        var first = TickNumbers(tail.Text);
        Assert.True(first.Count >= 1, tail.Text);
        tail.WaitFor(_ => TickNumbers(tail.Text).Count >= first.Count + 10, TimeSpan.FromSeconds(20), "ten new lines");
        var numbers = TickNumbers(tail.Text);
        for (var i = 1; i < numbers.Count; i++)
        {
            Assert.True(numbers[i] == numbers[i - 1] + 1, $"line {numbers[i - 1]} was followed by {numbers[i]}:\n{tail.Text}");
        }
        // Event ids are byte offsets after each piece: they grow by the piece's UTF-8 length.
        var data = tail.Events.Where(e => e.Type == "data").ToList();
        foreach (var e in data)
        {
            var offset = e.Json.GetProperty("o").GetInt64();
            Assert.Equal(offset + System.Text.Encoding.UTF8.GetByteCount(e.Json.GetProperty("t").GetString()!), long.Parse(e.Id!, CultureInfo.InvariantCulture));
        }
        Assert.Equal(0, tail.Skipped);
        var audit = _f.Fleet.Hub.Get(_f.Fleet.AdminToken, "api/v1/audit?action=log.view");
        Assert.Contains(audit.EnumerateArray(), a => a.GetProperty("hostId").GetString() == _f.HubId && a.GetProperty("target").GetString() == "ticker stdout"
            && a.GetProperty("actor").GetString() == "admin");
    }

    [Fact]
    public void ABrowserThatLostItsConnectionResumesFromLastEventIdWithoutAGap()
    {
        string lastId;
        List<long> before;
        using (var tail = new SseClient(_f.Fleet.Hub.BaseUri, _f.Fleet.AdminToken, LogPath("ticker", lines: 0)))
        {
            tail.WaitFor(e => TickNumbers(tail.Text).Count >= 3, TimeSpan.FromSeconds(20), "three lines");
            var events = tail.Events.ToList();
            var last = events.FindLastIndex(e => e.Type == "data");
            lastId = events[last].Id!;
            before = TickNumbers(string.Concat(events.Take(last + 1).Where(e => e.Type == "data").Select(e => e.Json.GetProperty("t").GetString())));
        }
        Thread.Sleep(1500); // lines go on meanwhile; the hub holds them for the tail without a reader
        using var again = new SseClient(_f.Fleet.Hub.BaseUri, _f.Fleet.AdminToken, LogPath("ticker", lines: 0), lastEventId: lastId);
        again.WaitFor(e => TickNumbers(again.Text).Count >= 15, TimeSpan.FromSeconds(20), "lines after resuming");
        var tailEvent = again.Events.First(e => e.Type == "tail").Json;
        Assert.True(tailEvent.GetProperty("resumed").GetBoolean(), again.Events[0].Data);
        var after = TickNumbers(again.Text);
        Assert.Equal(before[^1] + 1, after[0]);
        for (var i = 1; i < after.Count; i++)
        {
            Assert.Equal(after[i - 1] + 1, after[i]);
        }
    }

    [Fact]
    public void AtMostFourLiveLogsPerHostTheFifthIsRefusedWithAReason()
    {
        // Tails of the other tests free their streams once their readers are gone for the resume grace.
        _f.Fleet.WaitUntil(() => _f.Fleet.Host(_f.HubId).GetProperty("tails").GetArrayLength() == 0, TimeSpan.FromSeconds(60), "free of other tests' streams");
        var tails = Enumerable.Range(0, 4).Select(i => new SseClient(_f.Fleet.Hub.BaseUri, _f.Fleet.AdminToken, LogPath(i % 2 == 0 ? "ticker" : "burst", i < 2 ? "stdout" : "stderr"))).ToList();
        try
        {
            foreach (var tail in tails)
            {
                tail.WaitFor(e => e.Any(x => x.Type == "tail"), TimeSpan.FromSeconds(20), "the tail opened");
            }
            using var fifth = new SseClient(_f.Fleet.Hub.BaseUri, _f.Fleet.AdminToken, LogPath("ticker"));
            fifth.WaitFor(e => e.Any(x => x.Type == "end"), TimeSpan.FromSeconds(20), "an end event");
            Assert.Contains("4 live logs are already open", fifth.Events.First(e => e.Type == "end").Data, StringComparison.Ordinal);
            Assert.DoesNotContain(fifth.Events, e => e.Type == "data");
            Assert.All(tails, t => Assert.False(t.Ended, string.Join(" | ", t.Events.Select(e => e.Data))));
        }
        finally
        {
            foreach (var tail in tails)
            {
                tail.Dispose();
            }
        }
        // Closed readers free their streams (after the resume grace): a new tail opens again.
        _f.Fleet.WaitUntil(() => _f.Fleet.Host(_f.HubId).GetProperty("tails").GetArrayLength() == 0, TimeSpan.FromSeconds(60), "freeing the four streams");
    }

    [Fact]
    public void ASlowReaderGetsDropMarkersWhileTheProgramWritesEveryLineToItsLog()
    {
        using var slow = new SseClient(_f.Fleet.Hub.BaseUri, _f.Fleet.AdminToken, LogPath("burst", lines: 0), bytesPerSecond: 50_000);
        slow.WaitFor(e => e.Any(x => x.Type == "tail"), TimeSpan.FromSeconds(20), "the tail opened");
        var log = Path.Combine(_f.Fleet.Prefix("web1"), "log", "programs", "burst.log");
        File.WriteAllText(Path.Combine(_f.Fleet.Scratch("web1"), "go"), "");
        var watch = Stopwatch.StartNew();
        // The program writes about 11 MB as fast as it can; every line reaches its log file, in order.
        _f.Fleet.WaitUntil(() => ReadAll(log).Contains("BURST-DONE", StringComparison.Ordinal), TimeSpan.FromSeconds(120), "the burst written in full", "web1");
        var written = watch.Elapsed;
        var lines = ReadAll(log).Split('\n').Where(l => l.StartsWith("burst line", StringComparison.Ordinal)).ToList();
        Assert.Equal(200_000, lines.Count);
        Assert.Equal("burst line 0200000 with some padding to make it longer", lines[^1]);
        // The reader, at 50 KB/s, is told what it missed: the skips come in order, behind what it has yet to read.
        slow.WaitFor(_ => slow.Skipped > 1_000_000, TimeSpan.FromSeconds(90), "more than 1 MB reported skipped");
        Assert.True(System.Text.Encoding.UTF8.GetByteCount(slow.Text) < 8_000_000, $"the slow reader got {slow.Text.Length} chars");
        Console.WriteLine($"burst of 200,000 lines written to the log in {written.TotalSeconds:0.0} s with a 50 KB/s reader attached; {slow.Skipped} bytes reported skipped");
    }

    private static string ReadAll(string path)
    {
        var files = Enumerable.Range(1, 50).Select(i => $"{path}.{i}").Where(File.Exists).Reverse().Append(path).Where(File.Exists);
        return string.Concat(files.Select(File.ReadAllText));
    }

    private static List<long> TickNumbers(string text) =>
        [.. text.Split('\n').Select(l => l.Split(' ')).Where(p => p.Length >= 3 && p[0] == "tick").Select(p => long.Parse(p[1], CultureInfo.InvariantCulture))];
}
