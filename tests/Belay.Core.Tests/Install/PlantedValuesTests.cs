using System.Text;
using System.Text.Json.Nodes;
using Belay.Core.Feed;
using Belay.Core.Install;
using Belay.Core.IO;
using Belay.Core.Programs;
using Belay.Core.Update;
using Belay.TestSupport;

namespace Belay.Core.Tests.Install;

/// <summary>
/// Every field of every JSON file Belay reads, with a null or a value of the wrong type planted in it:
/// refused with the file, the field and what is allowed, never a NullReferenceException or the runtime's
/// own text (which NativeAOT reduces to resource keys).
/// </summary>
public sealed class PlantedValuesTests
{
    private const string Key = "RWRcLB9rLw3QIuTZKJx3vi4hhnGoUln8t8i9C46n1w6wtRE9+PKKMokY";

    private static string ConfigJson() => $$"""
        {
          "schema": 1,
          "feeds": ["https://feed.example/"],
          "channel": "stable",
          "product": "belay-agent",
          "rootKeys": ["{{Key}}"],
          "pinnedVersion": null,
          "scope": "user",
          "serviceManager": "none",
          "pollInterval": "10s",
          "trialDeadline": "60s",
          "maxTries": 3,
          "allowInsecureHttp": false,
          "token": null,
          "paths": { "bin": "/opt/b", "config": "/opt/b/etc", "state": "/opt/b/var", "log": "/opt/b/log" }
        }
        """;

    public static TheoryData<string, string, string> ConfigFields => new()
    {
        { "schema", "null", "schema" },
        { "schema", "\"one\"", "schema" },
        { "schema", "2", "schema" },
        { "feeds", "null", "feeds" },
        { "feeds", "\"https://feed.example/\"", "feeds" },
        { "feeds", "[]", "feeds" },
        { "feeds", "[null]", "feeds[0]" },
        { "feeds", "[42]", "feeds[0]" },
        { "channel", "null", "channel" },
        { "channel", "7", "channel" },
        { "channel", "\"../etc\"", "channel" },
        { "product", "null", "product" },
        { "rootKeys", "null", "rootKeys" },
        { "rootKeys", "{}", "rootKeys" },
        { "rootKeys", "[null]", "rootKeys[0]" },
        { "rootKeys", "[\"not a key\"]", "rootKeys[0]" },
        { "pinnedVersion", "\"latest\"", "pinnedVersion" },
        { "pinnedVersion", "1", "pinnedVersion" },
        { "scope", "null", "scope" },
        { "scope", "\"everyone\"", "scope" },
        { "serviceManager", "null", "serviceManager" },
        { "serviceManager", "\"upstart\"", "serviceManager" },
        { "pollInterval", "null", "pollInterval" },
        { "pollInterval", "10", "pollInterval" },
        { "pollInterval", "\"banana\"", "pollInterval" },
        { "trialDeadline", "null", "trialDeadline" },
        { "maxTries", "null", "maxTries" },
        { "maxTries", "\"3\"", "maxTries" },
        { "maxTries", "0", "maxTries" },
        { "allowInsecureHttp", "null", "allowInsecureHttp" },
        { "allowInsecureHttp", "\"yes\"", "allowInsecureHttp" },
        { "token", "5", "token" },
        { "paths", "null", "paths" },
        { "paths", "[]", "paths" },
        { "paths.state", "null", "paths.state" },
        { "paths.bin", "\"relative/bin\"", "paths.bin" },
    };

    [Theory]
    [MemberData(nameof(ConfigFields))]
    public void APlantedValueInConfigJsonNamesTheFileTheFieldAndWhatIsAllowed(string field, string planted, string reported)
    {
        using var dir = new TempDir();
        var path = dir.Combine("config.json");
        File.WriteAllText(path, Plant(ConfigJson(), field, planted));
        var e = Assert.Throws<JsonFileException>(() => InstallConfig.Load(path));
        AssertNamed(e, path, reported);
        Assert.Contains("expected", e.Message, StringComparison.Ordinal);
        Assert.Contains("belay install", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheUnplantedConfigReads()
    {
        using var dir = new TempDir();
        var path = dir.Combine("config.json");
        File.WriteAllText(path, ConfigJson());
        Assert.Equal("stable", InstallConfig.Load(path).Channel);
    }

    [Theory]
    [InlineData("", "it is empty")]
    [InlineData("{\"schema\": 1, \"feeds\": [", "not valid JSON at line 1")]
    [InlineData("\0\0\0\0", "NUL bytes")]
    [InlineData("null", "null")]
    [InlineData("[1, 2]", "a list instead of a JSON object")]
    [InlineData("\"config\"", "a string")]
    public void AConfigJsonThatIsNotAnObjectSaysWhatItHolds(string text, string said)
    {
        using var dir = new TempDir();
        var path = dir.Combine("config.json");
        File.WriteAllText(path, text);
        var e = Assert.Throws<JsonFileException>(() => InstallConfig.Load(path));
        Assert.StartsWith(path + ": ", e.Message, StringComparison.Ordinal);
        Assert.Contains(said, e.Message, StringComparison.Ordinal);
        AssertOurWords(e.Message);
    }

    public static TheoryData<string, string, string> StateFields => new()
    {
        { "current", "null", "current" },
        { "current", "5", "current" },
        { "previous", "[]", "previous" },
        { "bad", "null", "bad" },
        { "bad", "\"1.0.0\"", "bad" },
        { "bad", "[null]", "bad[0]" },
        { "bad", "[1]", "bad[0]" },
        { "trial", "\"1.1.0\"", "trial" },
        { "trial.version", "null", "trial.version" },
        { "trial.tries", "\"one\"", "trial.tries" },
        { "trial.tries", "null", "trial.tries" },
        { "trial.startedAt", "\"yesterday\"", "trial.startedAt" },
        { "committedAt", "true", "committedAt" },
        { "schema", "null", "schema" },
    };

    [Theory]
    [MemberData(nameof(StateFields))]
    public void APlantedValueInStateJsonNamesTheFieldAndTheRepair(string field, string planted, string reported)
    {
        const string state = """
            { "schema": 1, "current": "1.0.0", "previous": "0.9.0", "bad": [],
              "trial": { "version": "1.1.0", "from": "1.0.0", "tries": 1, "maxTries": 3, "startedAt": "2026-01-01T00:00:00Z" },
              "committedAt": "2026-01-01T00:00:00Z" }
            """;
        using var dir = new TempDir();
        var path = dir.Combine("state.json");
        File.WriteAllText(path, Plant(state, field, planted));
        var e = Assert.Throws<JsonFileException>(() => InstallStateStore.Load(path));
        AssertNamed(e, path, reported);
        Assert.Contains("belay doctor --repair", e.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string> AgentFields => new()
    {
        { "pid", "null", "pid" },
        { "pid", "\"12\"", "pid" },
        { "version", "null", "version" },
        { "ready", "\"yes\"", "ready" },
        { "lastCheck", "[]", "lastCheck" },
        { "lastCheck.result", "null", "lastCheck.result" },
        { "lastCheck.at", "5", "lastCheck.at" },
        { "sequence", "null", "sequence" },
        { "sequence", "-4", "sequence" },
        { "manifestETag", "{}", "manifestETag" },
        { "manifestExpires", "\"soon\"", "manifestExpires" },
    };

    [Theory]
    [MemberData(nameof(AgentFields))]
    public void APlantedValueInAgentJsonIsReportedNotThrown(string field, string planted, string reported)
    {
        const string agent = """
            { "pid": 12, "version": "1.0.0", "ready": true, "lastCheck": { "at": "2026-01-01T00:00:00Z", "result": "ok", "error": null },
              "sequence": 3, "manifestETag": "\"abc\"", "manifestExpires": "2027-01-01T00:00:00Z", "staged": null }
            """;
        using var dir = new TempDir();
        var path = dir.Combine("agent.json");
        File.WriteAllText(path, Plant(agent, field, planted));
        Assert.Null(AgentStatus.TryLoad(path, out var problem));
        Assert.NotNull(problem);
        Assert.StartsWith($"{path}: field {reported}: ", problem, StringComparison.Ordinal);
        AssertOurWords(problem);
    }

    public static TheoryData<string, string, string> TrustFields => new()
    {
        { "schema", "null", "schema" },
        { "root", "null", "root" },
        { "root", "[]", "root" },
        { "rootVersion", "\"2\"", "rootVersion" },
        { "rootVersion", "0", "rootVersion" },
        { "releaseEpoch", "null", "releaseEpoch" },
        { "channel", "null", "channel" },
        { "sequence", "null", "sequence" },
        { "pinnedKeys", "null", "pinnedKeys" },
        { "pinnedKeys", "[null]", "pinnedKeys[0]" },
    };

    [Theory]
    [MemberData(nameof(TrustFields))]
    public void APlantedValueInTrustJsonIsReportedAndTheHostAnchorsAgain(string field, string planted, string reported)
    {
        var trust = $$"""{ "schema": 1, "root": "e30=", "rootVersion": 2, "releaseEpoch": 1, "channel": "stable", "sequence": 9, "pinnedKeys": ["{{Key}}"] }""";
        using var dir = new TempDir();
        var path = dir.Combine("trust.json");
        File.WriteAllText(path, Plant(trust, field, planted));
        Assert.Null(TrustState.TryLoad(path, out var problem));
        Assert.NotNull(problem);
        Assert.StartsWith($"{path}: field {reported}: ", problem, StringComparison.Ordinal);
        Assert.Contains("pinned root keys", problem, StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string> ProgramFields => new()
    {
        { "name", "null", "programs[1].name" },
        { "name", "\"../x\"", "programs[1].name" },
        { "name", "\"@Not An App\"", "programs[1].name" },
        { "state", "null", "programs[1].state" },
        { "state", "\"dancing\"", "programs[1].state" },
        { "pid", "null", "programs[1].pid" },
        { "pid", "\"4\"", "programs[1].pid" },
        { "pid", "-3", "programs[1].pid" },
        { "failures", "null", "programs[1].failures" },
        { "failures", "[null]", "programs[1].failures[0]" },
        { "hash", "7", "programs[1].hash" },
        { "restarts", "null", "programs[1].restarts" },
    };

    [Theory]
    [MemberData(nameof(ProgramFields))]
    public void APlantedValueInOneProgramRecordDropsThatRecordOnly(string field, string planted, string reported)
    {
        const string record = """{ "name": "NAME", "state": "running", "pid": 4242, "startTime": 1, "startedAt": null, "hash": "h", "restarts": 0, "lastExit": null, "failures": [] }""";
        var damaged = Plant(record.Replace("NAME", "web", StringComparison.Ordinal), field, planted);
        var json = $$"""{ "agentPid": 10, "programs": [ {{record.Replace("NAME", "good", StringComparison.Ordinal)}}, {{damaged}} ] }""";
        using var dir = new TempDir();
        var path = dir.Combine("state.json");
        File.WriteAllText(path, json);
        var state = ProgramsStateFile.TryLoad(path, out var problems);
        Assert.NotNull(state);
        Assert.Equal(["good"], state.Programs.Select(p => p.Name));
        var problem = Assert.Single(problems);
        Assert.StartsWith($"{path}: field {reported}: ", problem, StringComparison.Ordinal);
        AssertOurWords(problem);
    }

    [Fact]
    public void ADeployedAppsRecordIsKeptBesideThePrograms()
    {
        // The agent records a deployed app as the unit @APP: the next agent must adopt it, not drop it (and restart the app).
        const string record = """{ "name": "NAME", "state": "running", "pid": 4242, "startTime": 1, "startedAt": null, "hash": "h", "restarts": 0, "lastExit": null, "failures": [] }""";
        var json = $$"""{ "agentPid": 10, "programs": [ {{record.Replace("NAME", "web", StringComparison.Ordinal)}}, {{record.Replace("NAME", "@shop", StringComparison.Ordinal)}} ] }""";
        using var dir = new TempDir();
        var path = dir.Combine("state.json");
        File.WriteAllText(path, json);
        var state = ProgramsStateFile.TryLoad(path, out var problems);
        Assert.Empty(problems);
        Assert.Equal(["web", "@shop"], state!.Programs.Select(p => p.Name));
    }

    [Theory]
    [InlineData("{ \"programs\": null }", "field programs: null")]
    [InlineData("{ \"programs\": [null] }", "field programs[0]: null")]
    [InlineData("[]", "a list instead of a JSON object")]
    [InlineData("{\"programs\": [", "not valid JSON")]
    public void AProgramsStateThatIsNotAnObjectWithAListIsReported(string json, string said)
    {
        using var dir = new TempDir();
        var path = dir.Combine("state.json");
        File.WriteAllText(path, json);
        ProgramsStateFile.TryLoad(path, out var problems);
        Assert.Contains(problems, p => p.Contains(said, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("not an id!", "does not hold a host id")]
    [InlineData("\0\0\0", "does not hold a host id")]
    public void ADamagedHostIdIsAnErrorThatNamesTheRepair(string text, string said)
    {
        using var dir = new TempDir();
        var path = dir.Combine("host-id");
        File.WriteAllText(path, text);
        var e = Assert.Throws<BelayException>(() => HostId.Load(path));
        Assert.Contains(said, e.Message, StringComparison.Ordinal);
        Assert.Contains("belay doctor --repair", e.Message, StringComparison.Ordinal);
        Assert.Equal("0123456789abcdef0123456789abcdef", WriteAndLoad(dir, "0123456789abcdef0123456789abcdef\n"));
    }

    private static string WriteAndLoad(TempDir dir, string text)
    {
        var path = dir.Combine("host-id-ok");
        File.WriteAllText(path, text);
        return HostId.Load(path);
    }

    private static void AssertNamed(JsonFileException e, string path, string field)
    {
        Assert.Equal(path, e.File);
        Assert.Equal(field, e.Field);
        Assert.StartsWith($"{path}: field {field}: ", e.Message, StringComparison.Ordinal);
        AssertOurWords(e.Message);
    }

    /// <summary>No runtime resource key, no .NET type name, no stack.</summary>
    private static void AssertOurWords(string message)
    {
        foreach (var word in (string[])["Deserialize", "System.", "Belay.Core", "Exception", "Path: $", "LineNumber", "   at "])
        {
            Assert.DoesNotContain(word, message, StringComparison.Ordinal);
        }
    }

    /// <summary>Sets <paramref name="field"/> (a.b for nested) of the JSON object to the raw JSON <paramref name="planted"/>.</summary>
    private static string Plant(string json, string field, string planted)
    {
        var root = JsonNode.Parse(json)!.AsObject();
        var parts = field.Split('.');
        var target = root;
        foreach (var part in parts[..^1])
        {
            target = target[part]!.AsObject();
        }
        target[parts[^1]] = JsonNode.Parse(planted);
        return root.ToJsonString();
    }
}
