using System.Text;
using Belay.Core.Update;
using Belay.TestSupport;

namespace Belay.Core.Tests.Update;

public sealed class InstallStateStoreTests
{
    private static readonly DateTimeOffset Now = new FakeClock().Now;

    private static InstallState Full() => new()
    {
        Current = "1.4.2",
        Previous = "1.4.1",
        Trial = new TrialState { Version = "1.5.0-rc.1", From = "1.4.2", Tries = 2, MaxTries = 3, StartedAt = Now.AddMilliseconds(123.4) },
        Bad = ["1.4.0", "1.3.9+build.5"],
        CommittedAt = Now.AddDays(-1),
    };

    [Fact]
    public void AStateSurvivesASaveAndALoadUnchanged()
    {
        using var dir = new TempDir();
        var path = dir.Combine("state.json");
        var state = Full();
        InstallStateStore.Save(path, state);
        var loaded = InstallStateStore.Load(path);

        Assert.Equal(KeeperHost.Json(state), KeeperHost.Json(loaded));
        Assert.Equal(state.Trial!.StartedAt, loaded.Trial!.StartedAt);
        Assert.Equal(state.CommittedAt, loaded.CommittedAt);
        Assert.Equal(state.Bad, loaded.Bad);
    }

    [Fact]
    public void TheFileIsIndentedCamelCaseJsonReadableByEveryone()
    {
        using var dir = new TempDir();
        var path = dir.Combine("state.json");
        InstallStateStore.Save(path, Full());
        var text = File.ReadAllText(path);

        foreach (var key in (string[])["\"schema\": 1", "\"current\": \"1.4.2\"", "\"previous\"", "\"trial\"", "\"maxTries\": 3", "\"bad\"", "\"committedAt\""])
        {
            Assert.Contains(key, text, StringComparison.Ordinal);
        }
        Assert.Contains("\n  \"current\"", text, StringComparison.Ordinal);
        Assert.EndsWith("}\n", text, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(path));
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void AFreshInstallHasNoPreviousNoTrialAndNoBadVersions()
    {
        var state = InstallStateStore.Parse(InstallStateStore.Serialize(InstallState.ForInstall("1.0.0", Now)), "test");
        Assert.Equal(("1.0.0", (string?)null, (TrialState?)null, Now), (state.Current, state.Previous, state.Trial, state.CommittedAt));
        Assert.Empty(state.Bad);
        Assert.Equal(1, state.Schema);
    }

    [Fact]
    public void UnknownFieldsAreIgnored()
    {
        var json = """{ "schema": 1, "current": "1.0.0", "bad": [], "sequence": 42, "future": { "x": [1, 2] } }""";
        var state = InstallStateStore.Parse(Encoding.UTF8.GetBytes(json), "test");
        Assert.Equal("1.0.0", state.Current);
    }

    [Fact]
    public void AMissingBadListReadsAsEmpty()
    {
        var state = InstallStateStore.Parse("""{ "current": "1.0.0" }"""u8, "test");
        Assert.Empty(state.Bad);
    }

    [Theory]
    [InlineData("", "")]
    [InlineData("{", "")]
    [InlineData("not json", "")]
    [InlineData("null", "null")]
    [InlineData("[]", "")]
    [InlineData("""{ "schema": 1 }""", "current")]
    [InlineData("""{ "current": null }""", "")]
    [InlineData("""{ "current": "latest" }""", "current")]
    [InlineData("""{ "current": "1.0.0", "previous": "v1" }""", "previous")]
    [InlineData("""{ "current": "1.0.0", "bad": null }""", "")]
    [InlineData("""{ "current": "1.0.0", "bad": ["1.1.0", "oops"] }""", "bad")]
    [InlineData("""{ "schema": 2, "current": "1.0.0" }""", "newer belay")]
    [InlineData("""{ "current": "1.0.0", "trial": { "version": "1.1.0", "from": "1.0.0", "tries": 4, "maxTries": 3 } }""", "trial.tries")]
    [InlineData("""{ "current": "1.0.0", "trial": { "version": "1.1.0", "from": "1.0.0", "tries": 1, "maxTries": 0 } }""", "trial.maxTries")]
    [InlineData("""{ "current": "1.0.0", "trial": { "from": "1.0.0", "tries": 1, "maxTries": 3 } }""", "trial.version")]
    [InlineData("""{ "current": "1.0.0", "committedAt": "yesterday" }""", "")]
    [InlineData("""{ "current": "1.0.0", "trial": { "version": "1.1.0", "from": "1.0.0", "tries": "one", "maxTries": 3 } }""", "")]
    public void AStateFileThatDoesNotParseIsAnErrorThatNamesTheFile(string json, string detail)
    {
        using var dir = new TempDir();
        var path = dir.Combine("state.json");
        File.WriteAllText(path, json);
        var e = Assert.ThrowsAny<BelayException>(() => InstallStateStore.Load(path));
        Assert.Equal(ExitCodes.Error, e.ExitCode);
        Assert.StartsWith(path + ": ", e.Message, StringComparison.Ordinal);
        Assert.Contains("belay doctor --repair", e.Message, StringComparison.Ordinal);
        Assert.Contains(detail, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AMissingStateFileIsAnErrorThatSaysSo()
    {
        using var dir = new TempDir();
        var path = dir.Combine("state.json");
        var e = Assert.Throws<BelayException>(() => InstallStateStore.Load(path));
        Assert.Contains("does not exist", e.Message, StringComparison.Ordinal);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnInvalidStateIsNeverWrittenAndTheOldFileStays()
    {
        using var dir = new TempDir();
        var path = dir.Combine("state.json");
        InstallStateStore.Save(path, Full());
        var before = File.ReadAllText(path);

        Assert.Throws<ArgumentException>(() => InstallStateStore.Save(path, new InstallState { Current = "" }));
        Assert.Equal(before, File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void ACloneSharesNothingWithItsOriginal()
    {
        var state = Full();
        var copy = state.Clone();
        copy.Bad.Add("9.9.9");
        copy.Trial!.Tries = 3;
        Assert.DoesNotContain("9.9.9", state.Bad);
        Assert.Equal(2, state.Trial!.Tries);
    }
}
