using System.Security.Cryptography;
using Belay.Core.Feed;

namespace Belay.Core.Tests.Feed;

public sealed class RootPreloaderTests
{
    [Fact]
    public async Task NothingIsLoadedUntilAskedAndThenOnceHoweverOftenItIsAsked()
    {
        var loads = 0;
        var preloader = new RootPreloader(() => Interlocked.Increment(ref loads), needed: true);

        Assert.True(preloader.WhenLoaded.IsCompletedSuccessfully);
        Assert.Equal(0, loads);

        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(preloader.Preload)));
        await preloader.WhenLoaded;
        preloader.Preload();
        await preloader.WhenLoaded;

        Assert.Equal(1, loads);
    }

    [Fact]
    public async Task ARequestWaitsForALoadStillRunning()
    {
        using var release = new ManualResetEventSlim();
        var preloader = new RootPreloader(() => release.Wait(TimeSpan.FromSeconds(30)), needed: true);

        preloader.Preload();
        var waiting = preloader.WhenLoaded;
        Assert.False(waiting.IsCompleted);

        release.Set();
        await waiting.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
    }

    [Theory]
    [InlineData("https://feed.example/", true)]
    [InlineData("HTTPS://feed.example/", true)]
    [InlineData("wss://hub.example/agent/v1/connect", true)]
    [InlineData("http://127.0.0.1:8080/", false)]
    [InlineData("file:///srv/feed", false)]
    [InlineData("/srv/feed", false)]
    public async Task OnlyATlsAddressLoadsTheRoots(string address, bool loads)
    {
        var count = 0;
        var preloader = new RootPreloader(() => count++, needed: true);

        preloader.PreloadFor([null, address]);
        await preloader.WhenLoaded;

        Assert.Equal(loads ? 1 : 0, count);
    }

    [Fact]
    public async Task WhereTheSystemChecksChainsItselfNothingIsLoaded()
    {
        var count = 0;
        var preloader = new RootPreloader(() => count++, needed: false);

        preloader.PreloadFor(["https://feed.example/"]);
        await preloader.WhenLoaded;

        Assert.Equal(0, count);
        Assert.True(preloader.WhenLoaded.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task AStoreThatCannotBeReadNeverFailsTheRequestThatWaitsForIt()
    {
        var preloader = new RootPreloader(() => throw new CryptographicException("unreadable bundle"), needed: true);

        preloader.Preload();
        await preloader.WhenLoaded;

        Assert.True(preloader.WhenLoaded.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task TheProcessWideLoadRunsAgainstTheRealStoreAndCompletes()
    {
        SystemRoots.PreloadFor(["https://feed.example/"]);
        await SystemRoots.WhenLoaded.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);

        Assert.True(SystemRoots.WhenLoaded.IsCompletedSuccessfully);
    }
}
