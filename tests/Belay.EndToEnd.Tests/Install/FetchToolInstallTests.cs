using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Install;

/// <summary>
/// `belay` for Linux has no HttpClient: curl, else wget, does its transfers (core/Feed/CommandFeedSource.cs).
/// Every other end-to-end install runs it with curl; these run it with only busybox's wget on PATH (a minimal
/// Alpine) and with neither.
/// </summary>
public sealed class FetchToolInstallTests : IDisposable
{
    private readonly InstalledHost _host = new();
    private readonly TempDir _bin = new("belay-path-");

    public void Dispose()
    {
        _host.Dispose();
        _bin.Dispose();
    }

    [Fact]
    public void WithOnlyBusyboxWgetOnPathTheInstallFetchesThroughIt()
    {
        _host.PublishAgent("1.0.0");
        File.CreateSymbolicLink(_bin.Combine("wget"), "/usr/bin/busybox");
        var install = BelayBinaries.RunWith(new Dictionary<string, string?> { ["PATH"] = _bin.Path }, _host.Build.Belay, _host.InstallArgs());
        Assert.True(install.ExitCode == 0, install + _host.ReadLog());
        Assert.Contains("running and ready", install.StdOut, StringComparison.Ordinal);
        Assert.Contains("\"GET /root.json HTTP/1.1\" 200", _host.Nginx.AccessLog, StringComparison.Ordinal);
    }

    [Fact]
    public void WithNeitherCurlNorWgetTheInstallSaysWhatToDoAndLeavesNothing()
    {
        _host.PublishAgent("1.0.0");
        var install = BelayBinaries.RunWith(new Dictionary<string, string?> { ["PATH"] = _bin.Path }, _host.Build.Belay, _host.InstallArgs());
        Assert.True(install.ExitCode == 1, install.ToString());
        Assert.Contains("needs curl or wget on PATH", install.StdErr, StringComparison.Ordinal);
        Assert.Contains("install curl", install.StdErr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_host.Prefix, "bin", "belay-keeper")), "nothing laid out");
        Assert.False(File.Exists(Path.Combine(_host.Prefix, "etc", "config.json")), "no config written");
    }
}
