using System.Text;
using Belay.Core;
using Belay.Core.Deploy;

namespace Belay.Core.Tests.IO;

/// <summary>The journal's enums keep the text JsonStringEnumConverter wrote, without its Regex.</summary>
public sealed class EnumNameConverterTests
{
    private static AppJournal Journal(DeployStep step) => new()
    {
        Name = "shop",
        Desired = new AppTarget { Name = "shop", Version = "1.0.0", State = AppDesiredState.Running },
        Deploy = new DeployRecord
        {
            Kind = DeployKind.Install,
            Version = "1.0.0",
            Revision = "0123456789abcdef",
            Steps = [DeployStep.Fetch, step],
            Step = step,
            StartedAt = DateTimeOffset.UnixEpoch,
        },
    };

    [Fact]
    public void EnumsAreWrittenAsTheirNamesAndReadBack()
    {
        var json = Encoding.UTF8.GetString(AppJournalStore.Serialize(Journal(DeployStep.PostStart)));
        Assert.Contains("\"step\": \"PostStart\"", json, StringComparison.Ordinal);
        Assert.Contains("\"kind\": \"Install\"", json, StringComparison.Ordinal);
        Assert.Contains("\"state\": \"Running\"", json, StringComparison.Ordinal);
        var back = AppJournalStore.Parse(Encoding.UTF8.GetBytes(json), "shop.json");
        Assert.Equal(DeployStep.PostStart, back.Deploy!.Step);
        Assert.Equal(AppDesiredState.Running, back.Desired!.State);
    }

    [Theory]
    [InlineData("\"postStart\"")]
    [InlineData("\"5\"")]
    [InlineData("5")]
    [InlineData("\"Nonsense\"")]
    [InlineData("\"PostStart, Fetch\"")]
    public void OnlyADefinedNameIsRead(string step)
    {
        var json = Encoding.UTF8.GetString(AppJournalStore.Serialize(Journal(DeployStep.PostStart)))
            .Replace("\"step\": \"PostStart\"", "\"step\": " + step, StringComparison.Ordinal);
        var e = Assert.Throws<BelayException>(() => AppJournalStore.Parse(Encoding.UTF8.GetBytes(json), "shop.json"));
        Assert.Contains("the app journal shop.json is not valid", e.Message, StringComparison.Ordinal);
    }
}
