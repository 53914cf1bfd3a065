using System.Security.Cryptography;
using Belay.EndToEnd.Tests.Installers;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Arm64;

/// <summary>
/// The linux-arm64 NativeAOT build end to end, run here under qemu-user through binfmt_misc
/// (<see cref="Arm64Emulation"/>): the README's demo, and install.sh choosing the arm64
/// bootstrapper by itself on an arm64 userland. docs/platforms.md says what emulation cannot show.
/// </summary>
public sealed class Arm64InstallTests
{
    [Fact]
    public void TheDemoInstallsUpdatesAndRollsBackWithTheArm64Build()
    {
        var arm64 = BelayBuild.LinuxArm64;
        var demo = Path.Combine(BelayBinaries.RepoRoot, "scripts", "demo.sh");
        var result = ExternalTool.Run("sh", [demo, arm64.Directory], timeout: TimeSpan.FromMinutes(15));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("agent moved to it by itself", result.StdOut, StringComparison.Ordinal);
        Assert.Contains("keeper rolled back", result.StdOut, StringComparison.Ordinal);
        Assert.Contains("Cleaned up: nothing of the demo is left running or on disk.", result.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void InstallShOnAnArm64HostTakesTheArm64BuildFromAFeedThatHasBoth()
    {
        var arm64 = BelayBuild.LinuxArm64;
        using var host = new InstallShHost(BelayBuild.Host, arm64);
        // An arm64 userland: every tool install.sh calls is an applet of the arm64 BusyBox, so
        // `uname -m` is the kernel's answer to an arm64 process (aarch64), with no fake and no --rid.
        var path = Arm64Userland(host.Workspace.Root);
        // An emulated agent under a loaded test run can take longer than the default 60 s to report ready (as
        // InstalledHost gives emulated installs 240 s).
        var args = $"--user --prefix {InstallShHost.Q(host.Prefix)} --service-manager none --wait 240s";

        var install = Pipe(host, path, args);
        Assert.True(install.ExitCode == 0, install.ToString());
        Assert.Contains("platform: Linux aarch64, glibc -> build linux-arm64", install.StdOut, StringComparison.Ordinal);
        // The gzip copy, checked, then decompressed by the arm64 BusyBox's gzip and checked again.
        Assert.Contains($"verified SHA-256 {Sha256(host.BootstrapPathFor("linux-arm64") + ".gz")} (bootstrap/{InstallShHost.Version}/belay-linux-arm64.gz)", install.StdOut, StringComparison.Ordinal);
        Assert.Contains($"verified SHA-256 {Sha256(host.BootstrapPathFor("linux-arm64"))} (bootstrap/{InstallShHost.Version}/belay-linux-arm64)", install.StdOut, StringComparison.Ordinal);
        Assert.Contains($"agent {InstallShHost.Version} is running and ready", install.StdOut, StringComparison.Ordinal);

        // What was fetched: the arm64 bootstrapper and the arm64 agent, nothing for linux-x64.
        var log = host.Nginx.AccessLog;
        Assert.Contains($"GET /bootstrap/{InstallShHost.Version}/belay-linux-arm64.gz ", log, StringComparison.Ordinal);
        Assert.Contains($"belay-agent-{InstallShHost.Version}-linux-arm64.tar.a64.br ", log, StringComparison.Ordinal);
        Assert.DoesNotContain("linux-x64", log, StringComparison.Ordinal);
        Assert.True(Arm64Emulation.IsArm64Elf(Path.Combine(host.Prefix, "bin", "belay")), "the installed belay is not the arm64 build");
        Assert.True(Arm64Emulation.IsArm64Elf(Path.Combine(host.Prefix, "versions", InstallShHost.Version, "belay-agent")), "the installed agent is not the arm64 build");

        // The keeper and the agent it started run as arm64 processes.
        var status = host.Status();
        Assert.True(status.GetProperty("agent").GetProperty("ready").GetBoolean(), status.ToString());
        foreach (var role in new[] { "keeper", "agent" })
        {
            var pid = status.GetProperty(role).GetProperty("pid").GetInt32();
            Assert.True(Arm64Emulation.RunsAsArm64(pid), $"the {role} (pid {pid}) runs {Arm64Emulation.ExecutableOf(pid)}, not qemu-aarch64");
        }

        var uninstall = Pipe(host, path, args + " --uninstall --purge");
        Assert.True(uninstall.ExitCode == 0, uninstall.ToString());
        Assert.False(Directory.Exists(host.Prefix), "the prefix is still there after --uninstall --purge");
        Assert.True(host.TempIsEmpty, "install.sh left files in TMPDIR");
    }

    /// <summary><c>wget -qO- URL/install.sh | sh -s -- ARGS</c>, in the arm64 BusyBox's shell, with only its applets on PATH.</summary>
    private static ToolResult Pipe(InstallShHost host, string path, string args) =>
        ExternalTool.Run(Arm64Emulation.BusyBox, ["sh", "-c", $"wget -qO- {InstallShHost.Q(host.ScriptUrl)} | sh -s -- {args}"],
            environment: host.Environment(path), timeout: TimeSpan.FromMinutes(6));

    /// <summary>A folder with a link to the arm64 BusyBox for each of its applets: a PATH with nothing else on it.</summary>
    private static string Arm64Userland(string root)
    {
        var dir = Path.Combine(root, "arm64-bin");
        Directory.CreateDirectory(dir);
        var list = ExternalTool.Run(Arm64Emulation.BusyBox, ["--list"]);
        Assert.True(list.ExitCode == 0, list.ToString());
        foreach (var applet in list.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            File.CreateSymbolicLink(Path.Combine(dir, applet), Arm64Emulation.BusyBox);
        }
        return dir;
    }

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
}
