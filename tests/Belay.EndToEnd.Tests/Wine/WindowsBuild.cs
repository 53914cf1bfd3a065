using Belay.EndToEnd.Tests.Release;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Wine;

/// <summary>
/// The win-x64 executables the Wine tests run (self-contained, trimmed single files:
/// ./build.sh publish-windows and publish-windows-agent put them in artifacts/publish/win-x64,
/// or BELAY_WIN_BIN_DIR names the folder), and the helpers to give them a feed.
/// </summary>
internal static class WindowsBuild
{
    public static string Directory => Environment.GetEnvironmentVariable("BELAY_WIN_BIN_DIR") is { Length: > 0 } d
        ? d
        : Path.Combine(BelayBinaries.RepoRoot, "artifacts", "publish", "win-x64");

    public static string Belay => Require("belay.exe", "publish-windows");

    public static string Agent => Require("belay-agent.exe", "publish-windows-agent");

    private static string Require(string name, string task)
    {
        var path = Path.Combine(Directory, name);
        if (!File.Exists(path))
        {
            Assert.Fail($"the win-x64 {name} is not in {Directory}: run ./build.sh {task} (./build.sh test does it first)");
        }
        return path;
    }

    /// <summary>A Linux path as Wine's programs see it: the Z: drive maps the Linux root.</summary>
    public static string OnZ(string linuxPath) => "Z:" + Path.GetFullPath(linuxPath).Replace('/', '\\');

    /// <summary>Publishes the win-x64 agent as <paramref name="version"/> into the workspace's feed (a .zip, as on Windows).</summary>
    public static void PublishAgent(ReleaseWorkspace ws, string version)
    {
        var input = Path.Combine(ws.Root, $"win-agent-{version}");
        System.IO.Directory.CreateDirectory(input);
        File.Copy(Agent, Path.Combine(input, "belay-agent.exe"), overwrite: true);
        var packages = Path.Combine(ws.Root, "win-packages");
        var package = ReleaseWorkspace.Release("package", "--compact", "fast", "--rid", "win-x64", "--version", version, "--input", input, "--out", packages);
        Assert.True(package.ExitCode == 0, package.ToString());
        var publish = ReleaseWorkspace.Release("publish", "--feed", ws.Feed, "--channel", "stable", "--version", version,
            "--artifact", $"win-x64={Path.Combine(packages, $"belay-agent-{version}-win-x64.zip")}", "--key", ws.ReleaseKey);
        Assert.True(publish.ExitCode == 0, publish.ToString());
    }

    public static string RootKeyLine(ReleaseWorkspace ws) => File.ReadAllLines(ws.RootPub).Last(l => l.Length > 0);

    /// <summary>`belay install --service-manager windows --scope system --no-start` from <paramref name="ws"/>'s feed, in <paramref name="wine"/>; asserts it succeeded.</summary>
    public static ToolResult InstallSystemNoStart(WinePrefix wine, ReleaseWorkspace ws, string exe)
    {
        var install = wine.Run(TimeSpan.FromMinutes(2), exe, "install", "--feed", OnZ(ws.Feed), "--root-key", RootKeyLine(ws),
            "--service-manager", "windows", "--scope", "system", "--no-start");
        Assert.True(install.ExitCode == 0, install.ToString());
        return install;
    }
}
