using System.Runtime.InteropServices;
using Xunit;

namespace Belay.TestSupport;

/// <summary>
/// What it takes to run the linux-arm64 build end to end on an x64 machine, as an arm64 host
/// would: qemu-user registered for arm64 ELF files through binfmt_misc (so a plain exec of
/// `belay` runs it, the keeper starts the agent the same way, and `uname -m` says aarch64),
/// the arm64 libraries the binaries load (glibc and OpenSSL, multiarch), an arm64 BusyBox for install.sh's own
/// tools, and the cross-compiled NativeAOT executables. `sh scripts/install-deps.sh cross`
/// sets up the machine; `./build.sh test` builds the executables. Whatever is missing, the
/// test skips loudly naming it, or fails when BELAY_REQUIRE_TOOLS=1 (CI).
/// </summary>
public static class Arm64Emulation
{
    public const string BinfmtEntry = "/proc/sys/fs/binfmt_misc/qemu-aarch64";

    /// <summary>busybox-static:arm64, unpacked by install-deps.sh cross (it cannot be installed beside the host's busybox).</summary>
    public const string BusyBox = "/opt/belay-cross/arm64/busybox";

    private const ushort ElfMachineAarch64 = 0xB7;

    private static readonly Lazy<string?> Missing = new(FindMissing);

    /// <summary>The folder of the linux-arm64 executables, once everything they need to run here is in place.</summary>
    public static string Require()
    {
        if (Missing.Value is { } what)
        {
            var reason = $"SKIPPED LOUDLY: the linux-arm64 end-to-end tests cannot run here: {what}";
            if (ExternalTool.ToolsRequired)
            {
                Assert.Fail(reason + " BELAY_REQUIRE_TOOLS=1, so this is a failure.");
            }
            Assert.Skip(reason);
        }
        return Directory;
    }

    /// <summary>BELAY_ARM64_BIN_DIR (./build.sh test sets it), else artifacts/publish/linux-arm64.</summary>
    public static string Directory =>
        Environment.GetEnvironmentVariable("BELAY_ARM64_BIN_DIR") is { Length: > 0 } dir
            ? dir
            : Path.Combine(BelayBinaries.RepoRoot, "artifacts", "publish", "linux-arm64");

    /// <summary>True when <paramref name="path"/> is a 64-bit little-endian ELF file for aarch64.</summary>
    public static bool IsArm64Elf(string path)
    {
        Span<byte> header = stackalloc byte[20];
        using var file = File.OpenRead(path);
        if (file.Read(header) < header.Length)
        {
            return false;
        }
        return header[0] == 0x7f && header[1] == (byte)'E' && header[2] == (byte)'L' && header[3] == (byte)'F'
            && header[4] == 2 && header[5] == 1 && BitConverter.ToUInt16(header[18..20]) == ElfMachineAarch64;
    }

    /// <summary>The executable the kernel runs for <paramref name="pid"/>: qemu-aarch64's path for an emulated arm64 process.</summary>
    public static string? ExecutableOf(int pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/exe").LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// True when <paramref name="pid"/> runs as arm64 code: natively on an arm64 host; here, when
    /// the kernel runs it through binfmt_misc's qemu-aarch64 entry (its /proc/PID/exe is the interpreter).
    /// </summary>
    public static bool RunsAsArm64(int pid)
    {
        if (RuntimeInformation.OSArchitecture == Architecture.Arm64)
        {
            return true;
        }
        var interpreter = File.ReadLines(BinfmtEntry).FirstOrDefault(l => l.StartsWith("interpreter ", StringComparison.Ordinal))?["interpreter ".Length..];
        if (interpreter is null || ExecutableOf(pid) is not { } exe)
        {
            return false;
        }
        var resolved = new FileInfo(interpreter).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? interpreter;
        return exe == interpreter || exe == resolved;
    }

    private static string? FindMissing()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "they need Linux (binfmt_misc and qemu-user)";
        }
        var dir = Directory;
        foreach (var name in new[] { "belay", "belay-agent", "belay-release" })
        {
            var file = Path.Combine(dir, name);
            if (!File.Exists(file))
            {
                return $"{file} is missing: ./build.sh test cross-compiles the linux-arm64 NativeAOT executables first (./build.sh publish-arm64 alone)";
            }
            if (!IsArm64Elf(file))
            {
                return $"{file} is not an arm64 ELF executable";
            }
        }
        if (RuntimeInformation.OSArchitecture == Architecture.Arm64)
        {
            return null; // an arm64 host runs them natively
        }
        if (!File.Exists("/proc/sys/fs/binfmt_misc/status"))
        {
            return "binfmt_misc is not mounted on /proc/sys/fs/binfmt_misc (sh scripts/install-deps.sh cross mounts it as root; a container must be allowed to mount it, or the host must register qemu-aarch64 with the flags PF)";
        }
        if (!File.Exists(BinfmtEntry))
        {
            return $"no qemu-aarch64 entry in binfmt_misc ({BinfmtEntry}): arm64 executables do not run as plain programs here (sh scripts/install-deps.sh cross registers qemu-user's qemu-aarch64 with the flags PF)";
        }
        var entry = File.ReadAllLines(BinfmtEntry);
        if (entry.FirstOrDefault() != "enabled")
        {
            return $"the qemu-aarch64 entry in binfmt_misc is disabled (echo 1 > {BinfmtEntry})";
        }
        if (!entry.Any(l => l.StartsWith("flags: ", StringComparison.Ordinal) && l.Contains('P', StringComparison.Ordinal)))
        {
            return $"the qemu-aarch64 entry in binfmt_misc has no P flag (preserve argv[0]), which the arm64 BusyBox needs to run its applets (sh scripts/install-deps.sh cross registers it again with the flags PF)";
        }
        foreach (var (file, package) in new[]
        {
            ("/lib/ld-linux-aarch64.so.1", "libc6:arm64"),
            ("/usr/lib/aarch64-linux-gnu/libssl.so.3", "libssl3:arm64"),
        })
        {
            if (!File.Exists(file))
            {
                return $"{file} is missing: the arm64 executables load it; install {package} (dpkg --add-architecture arm64, then apt-get install {package}; sh scripts/install-deps.sh cross does it)";
            }
        }
        if (!File.Exists(BusyBox))
        {
            return $"{BusyBox} is missing: the arm64 BusyBox that install.sh runs under (sh scripts/install-deps.sh cross unpacks busybox-static:arm64 there)";
        }
        var version = ExternalTool.Run(Path.Combine(dir, "belay"), ["--version"], timeout: TimeSpan.FromMinutes(2));
        if (version.ExitCode != 0)
        {
            return $"{Path.Combine(dir, "belay")} --version does not run under emulation: {version}";
        }
        return null;
    }
}
