using System.Security.Cryptography;
using System.Text;
using Belay.Core.Deploy;
using Belay.Core.Feed;
using Belay.Core.Update;

namespace Belay.Core.Tests.Deploy;

public sealed class DeployPolicyTests
{
    /// <summary>20 simulated hosts, as belay install makes their ids (16 random bytes in hex), from a fixed seed.</summary>
    private static readonly string[] Hosts = [.. Enumerable.Range(0, 20).Select(i =>
    {
        var bytes = new byte[16];
        new Random(1000 + i).NextBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    })];

    /// <summary>The formula of docs/deployments.md, written out independently of the product's code.</summary>
    private static bool Formula(string host, string app, string version, int percent)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{host}:{app}:{version}"));
        ulong value = 0;
        for (var i = 0; i < 8; i++)
        {
            value = (value << 8) | hash[i];
        }
        return value % 100 < (ulong)Math.Clamp(percent, 0, 100);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(10)]
    [InlineData(25)]
    [InlineData(50)]
    [InlineData(90)]
    [InlineData(100)]
    public void OfTwentySimulatedHostsTheAdmittedSetIsExactlyWhatTheFormulaSays(int percent)
    {
        var admitted = Hosts.Where(h => DeployPolicy.IsAdmitted(h, "shop", "2.7.1", percent)).ToList();
        var expected = Hosts.Where(h => Formula(h, "shop", "2.7.1", percent)).ToList();
        Assert.Equal(expected, admitted);
        if (percent == 0)
        {
            Assert.Empty(admitted);
        }
        if (percent == 100)
        {
            Assert.Equal(20, admitted.Count);
        }
    }

    [Fact]
    public void RaisingThePercentOnlyAddsHosts()
    {
        var before = new HashSet<string>();
        for (var percent = 0; percent <= 100; percent += 5)
        {
            var now = Hosts.Where(h => DeployPolicy.IsAdmitted(h, "shop", "2.7.1", percent)).ToHashSet();
            Assert.Superset(before, now);
            before = now;
        }
    }

    [Fact]
    public void TheAppNameIsMixedInSoEachAppDrawsItsOwnHosts()
    {
        var shop = Hosts.Select(h => DeployPolicy.Bucket(h, "shop", "1.0")).ToList();
        var cart = Hosts.Select(h => DeployPolicy.Bucket(h, "cart", "1.0")).ToList();
        Assert.NotEqual(shop, cart);
        // And it is not the agent's own formula (host:version) either.
        Assert.NotEqual(Hosts.Select(h => UpdatePolicy.Bucket(h, "1.0")).ToList(), shop);
    }

    [Fact]
    public void TheHostsOwnRidWinsOverAnyAndAnyIsTheFallback()
    {
        var app = new DesiredApp
        {
            Version = "1",
            Artifacts =
            {
                ["any"] = new ArtifactEntry { Path = FeedLayout.AppArchive("a", "1", "any") },
                ["linux-x64"] = new ArtifactEntry { Path = FeedLayout.AppArchive("a", "1", "linux-x64") },
            },
        };
        Assert.Equal("linux-x64", DeployPolicy.ChooseArtifact(app, "linux-x64")!.Value.Rid);
        Assert.Equal("any", DeployPolicy.ChooseArtifact(app, "linux-arm64")!.Value.Rid);
        app.Artifacts.Remove("any");
        Assert.Null(DeployPolicy.ChooseArtifact(app, "linux-arm64"));
    }
}
