using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Installers;

/// <summary>
/// Which build install.sh picks from uname (and ldd, sysctl), or how it refuses: a fake
/// uname on PATH plays each platform, and --dry-run shows the choice without downloading.
/// </summary>
public sealed class InstallShPlatformTests : IDisposable
{
    private readonly TempDir _dir = new("belay-e2e-");

    public void Dispose() => _dir.Dispose();

    /// <summary>name, uname -s, uname -m, uname -o, uname -v, ldd --version says, sysctl.proc_translated (empty: no such key), the RID.</summary>
    private static readonly (string Name, string S, string M, string O, string V, string Libc, string Translated, string Rid)[] Supported =
    [
        ("Linux x86_64 glibc", "Linux", "x86_64", "GNU/Linux", "#1 SMP Debian", "glibc", "", "linux-x64"),
        ("Linux aarch64 glibc", "Linux", "aarch64", "GNU/Linux", "#1 SMP", "glibc", "", "linux-arm64"),
        ("Alpine x86_64", "Linux", "x86_64", "Linux", "#1-Alpine SMP", "musl", "", "linux-musl-x64"),
        ("Alpine aarch64", "Linux", "aarch64", "Linux", "#1-Alpine SMP", "musl", "", "linux-musl-arm64"),
        ("Apple Silicon", "Darwin", "arm64", "Darwin", "Darwin Kernel Version 24.1.0: RELEASE_ARM64_T8103", "none", "0", "osx-arm64"),
        ("Intel Mac", "Darwin", "x86_64", "Darwin", "Darwin Kernel Version 24.1.0: RELEASE_X86_64", "none", "", "osx-x64"),
        ("Intel Mac, sysctl says 0", "Darwin", "x86_64", "Darwin", "Darwin Kernel Version 24.1.0", "none", "0", "osx-x64"),
        ("Apple Silicon under Rosetta 2", "Darwin", "x86_64", "Darwin", "Darwin Kernel Version 24.1.0: RELEASE_ARM64_T6000", "none", "1", "osx-arm64"),
        ("SmartOS LX zone", "Linux", "x86_64", "GNU/Linux", "BrandZ virtual linux", "glibc", "", "linux-x64"),
    ];

    /// <summary>name, uname -s, uname -m, uname -o, the message, a hint it gives.</summary>
    private static readonly (string Name, string S, string M, string O, string Message, string Hint)[] Unsupported =
    [
        ("SmartOS", "SunOS", "i86pc", "illumos", ".NET publishes no illumos or Solaris runtime and no NativeAOT target", "run Belay in an LX-branded zone: the linux-x64 build runs there"),
        ("Solaris", "SunOS", "i86pc", "Solaris", "this is SunOS (SunOS i86pc). .NET publishes no illumos or Solaris runtime", "LX-branded zone"),
        ("FreeBSD", "FreeBSD", "amd64", "FreeBSD", "there is no Belay build for FreeBSD (amd64)", "Belay runs on Linux (glibc or musl) and macOS"),
        ("Linux riscv64", "Linux", "riscv64", "GNU/Linux", "there is no Belay build for Linux on riscv64", "x86_64 (amd64) and arm64 (aarch64)"),
        ("Linux armv7l", "Linux", "armv7l", "GNU/Linux", "there is no Belay build for Linux on armv7l", "Builds on this feed: linux-arm64 linux-musl-arm64 linux-musl-x64 linux-x64 osx-arm64 osx-x64."),
        ("Git Bash", "MINGW64_NT-10.0-19045", "x86_64", "Msys", "this is Windows", "install.ps1"),
    ];

    private string Fakes(string s, string m, string o, string v, string libc, string translated)
    {
        var dir = Path.Combine(_dir.Path, "fakes-" + Guid.NewGuid().ToString("N")[..8]);
        // Like uname: the fields asked for, in its fixed order (-s, -v, -m, then -o as GNU's), whatever the order of the options.
        ScriptPath.Fake(dir, "uname", $$"""
            out=
            for field in s v m o; do
                for option in "$@"; do
                    if [ "$option" = "-$field" ]; then
                        case $field in
                            s) out="$out "'{{s}}' ;;
                            v) out="$out "'{{v}}' ;;
                            m) out="$out "'{{m}}' ;;
                            o) out="$out "'{{o}}' ;;
                        esac
                    fi
                done
            done
            if [ -z "$out" ]; then out=' {{s}}'; fi
            echo "${out# }"
            """);
        // glibc's getconf knows GNU_LIBC_VERSION; musl's (and a Mac's) does not.
        ScriptPath.Fake(dir, "getconf", libc == "glibc"
            ? "[ \"$1\" = GNU_LIBC_VERSION ] && echo 'glibc 2.36'"
            : "echo \"getconf: $1: unknown variable\" >&2; exit 1");
        ScriptPath.Fake(dir, "ldd", libc switch
        {
            "musl" => "echo 'musl libc (x86_64)' >&2; echo 'Version 1.2.5' >&2; exit 1",
            "glibc" => "echo 'ldd (Debian GLIBC 2.36-9+deb12u9) 2.36'",
            _ => "echo 'ldd: not on this system' >&2; exit 127",
        });
        ScriptPath.Fake(dir, "sysctl", translated.Length > 0
            ? $"[ \"$1 $2\" = '-n sysctl.proc_translated' ] && echo {translated}"
            : "echo 'sysctl: unknown oid' >&2; exit 1");
        return dir + ":" + Environment.GetEnvironmentVariable("PATH");
    }

    private ToolResult Run(string shell, string script, string path, params string[] args) =>
        ExternalTool.Run(InstallShTests.Shell(shell)[0], [.. InstallShTests.Shell(shell)[1..], "-s", "--", .. args], stdin: script,
            environment: new Dictionary<string, string?> { ["PATH"] = path, ["BELAY_RID"] = null, ["TMPDIR"] = _dir.Path });

    public static IEnumerable<TheoryDataRow<string, string>> SupportedInEachShell() =>
        from shell in new[] { "dash", "bash", "busybox" } from row in Supported select new TheoryDataRow<string, string>(shell, row.Name);

    public static IEnumerable<TheoryDataRow<string, string>> UnsupportedInEachShell() =>
        from shell in new[] { "dash", "bash", "busybox" } from row in Unsupported select new TheoryDataRow<string, string>(shell, row.Name);

    [Theory]
    [MemberData(nameof(SupportedInEachShell))]
    public void EachSupportedPlatformGetsItsBuild(string shell, string platform)
    {
        var (_, s, m, o, v, libc, translated, rid) = Supported.Single(r => r.Name == platform);
        var result = Run(shell, InstallShScript.Render(), Fakes(s, m, o, v, libc, translated), "--dry-run", "--user");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"-> build {rid}\n", result.StdOut, StringComparison.Ordinal);
        Assert.Contains($"would download {InstallShScript.FeedUrl}bootstrap/1.0.0/belay-{rid}.gz with curl, check that its SHA-256 is {InstallShScript.Sha256Of(rid + ".gz")}, decompress it with gzip (at most {InstallShScript.BootstrapSize} bytes) and check that its SHA-256 is {InstallShScript.Sha256Of(rid)}", result.StdOut, StringComparison.Ordinal);
        if (translated == "1")
        {
            Assert.Contains("under Rosetta 2 (an arm64 Mac)", result.StdOut, StringComparison.Ordinal);
        }
        if (v.Contains("BrandZ", StringComparison.Ordinal))
        {
            Assert.Contains("in an illumos LX-branded zone", result.StdOut, StringComparison.Ordinal);
        }
        Assert.Contains(libc == "musl" ? "musl libc" : "", result.StdOut, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(UnsupportedInEachShell))]
    public void AnUnsupportedPlatformIsRefusedWithWhatExists(string shell, string platform)
    {
        var (_, s, m, o, message, hint) = Unsupported.Single(r => r.Name == platform);
        var result = Run(shell, InstallShScript.Render(), Fakes(s, m, o, "", "none", ""), "--dry-run", "--user");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains(message, result.StdErr, StringComparison.Ordinal);
        Assert.Contains(hint, result.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("would download", result.StdOut, StringComparison.Ordinal);
    }

    [Theory]
    [ClassData(typeof(ShellData))]
    public void APlatformThisFeedHasNoBuildForIsRefusedWithTheBuildsItHas(string shell)
    {
        var script = InstallShScript.Render("linux-x64", "osx-arm64");
        var mac = Run(shell, script, Fakes("Darwin", "x86_64", "Darwin", "", "none", ""), "--dry-run", "--user");
        Assert.Equal(1, mac.ExitCode);
        Assert.Contains("this feed has no Belay build for osx-x64. Builds on this feed: linux-x64 osx-arm64.", mac.StdErr, StringComparison.Ordinal);

        var alpine = Run(shell, script, Fakes("Linux", "x86_64", "Linux", "", "musl", ""), "--dry-run", "--user");
        Assert.Equal(1, alpine.ExitCode);
        Assert.Contains("no Belay build for linux-musl-x64", alpine.StdErr, StringComparison.Ordinal);
        Assert.Contains("apk add gcompat), with --rid linux-x64", alpine.StdErr, StringComparison.Ordinal);

        var forced = Run(shell, script, Fakes("Linux", "x86_64", "Linux", "", "musl", ""), "--dry-run", "--user", "--rid", "linux-x64");
        Assert.True(forced.ExitCode == 0, forced.ToString());
        Assert.Contains("(detected linux-musl-x64); using --rid linux-x64", forced.StdOut, StringComparison.Ordinal);
        Assert.Contains("belay-linux-x64.gz with curl", forced.StdOut, StringComparison.Ordinal);
    }

    public sealed class ShellData : TheoryData<string>
    {
        public ShellData()
        {
            Add("dash");
            Add("bash");
            Add("busybox");
        }
    }
}
