using System.Globalization;

namespace Belay.Bench;

/// <summary>The machine and software a report's figures came from.</summary>
internal sealed record MachineInfo(string Cpu, int Cores, string Ram, string Kernel, string Os, string DotnetSdk, string Commit,
    string Nginx, string Supervisord, string Curl, string LoadAtStart)
{
    public static MachineInfo Read(string repo)
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown";
        var memKb = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        var ram = $"{double.Parse(memKb, CultureInfo.InvariantCulture) / 1024 / 1024:F1} GiB";
        var os = File.Exists("/etc/os-release")
            ? File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?.Split('=', 2)[1].Trim('"') ?? "Linux"
            : "Linux";
        var commit = Shell.Run("git", ["-C", repo, "rev-parse", "--short=12", "HEAD"]).StdOut.Trim();
        var dirty = Shell.Run("git", ["-C", repo, "status", "--porcelain", "--untracked-files=no"]).StdOut.Trim().Length > 0 ? " (with uncommitted changes)" : "";
        var branch = Shell.Run("git", ["-C", repo, "rev-parse", "--abbrev-ref", "HEAD"]).StdOut.Trim();
        return new MachineInfo(cpu, Environment.ProcessorCount, ram, File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), os,
            Shell.VersionOf("dotnet", "--version"), $"{commit} on {branch}{dirty}",
            Shell.VersionOf("nginx", "-v").Replace("nginx version: ", "", StringComparison.Ordinal), Shell.VersionOf("supervisord", "--version"), string.Join(' ', Shell.VersionOf("curl", "--version").Split(' ').Take(2)),
            string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)));
    }
}
