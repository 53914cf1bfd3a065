using System.Runtime.InteropServices;

namespace Belay.TestSupport;

/// <summary>
/// One set of the shipped executables and the RID they were built for: the host's own
/// (<see cref="Host"/>, what almost every end-to-end test runs) or the linux-arm64 NativeAOT
/// build that runs here under qemu-user (<see cref="LinuxArm64"/>, see <see cref="Arm64Emulation"/>).
/// </summary>
public sealed record BelayBuild(string Directory, string Rid)
{
    public string Belay => Path.Combine(Directory, "belay");
    public string Agent => Path.Combine(Directory, "belay-agent");
    public string Release => Path.Combine(Directory, "belay-release");

    /// <summary>True when this build is for another CPU than the machine's: it runs under qemu-user, many times slower.</summary>
    public bool Emulated => Rid != RuntimeInformation.RuntimeIdentifier;

    /// <summary>The host's NativeAOT build (BELAY_BIN_DIR, set by ./build.sh test).</summary>
    public static BelayBuild Host => new(BelayBinaries.Directory, RuntimeInformation.RuntimeIdentifier);

    /// <summary>
    /// The linux-arm64 NativeAOT build (BELAY_ARM64_BIN_DIR, set by ./build.sh test-arm64, or
    /// artifacts/publish/linux-arm64), after <see cref="Arm64Emulation.Require"/> has checked that
    /// this machine runs it; skips loudly (fails in CI) naming what is missing.
    /// </summary>
    public static BelayBuild LinuxArm64
    {
        get
        {
            var dir = Arm64Emulation.Require();
            return new BelayBuild(dir, "linux-arm64");
        }
    }
}
