using System.Runtime.InteropServices;
using Xunit;

namespace Belay.TestSupport;

/// <summary>
/// The NativeAOT executables that ship, built once per run by ./build.sh test (publish) and
/// shared by every end-to-end test. Tests never fall back to a debug build: what they check
/// is what users run.
/// </summary>
public static class BelayBinaries
{
    public static string Directory
    {
        get
        {
            var fromBuild = Environment.GetEnvironmentVariable("BELAY_BIN_DIR");
            var dir = !string.IsNullOrEmpty(fromBuild)
                ? fromBuild
                : Path.Combine(RepoRoot, "artifacts", "publish", RuntimeInformation.RuntimeIdentifier);
            if (!File.Exists(Path.Combine(dir, "belay-release")))
            {
                Assert.Fail($"the NativeAOT executables are not in {dir}: run ./build.sh publish (./build.sh test does it first)");
            }
            return dir;
        }
    }

    public static string Belay => Path.Combine(Directory, "belay");
    public static string Agent => Path.Combine(Directory, "belay-agent");
    public static string Keeper => Path.Combine(Directory, "belay-keeper");
    public static string Release => Path.Combine(Directory, "belay-release");
    public static string Hub => Path.Combine(Directory, "belay-hub");

    /// <summary>The developer keys the build compiled in (.keys/ at the repository root).</summary>
    public static string KeysDirectory =>
        Environment.GetEnvironmentVariable("BELAY_KEYS_DIR") is { Length: > 0 } d ? d : Path.Combine(RepoRoot, ".keys");

    public static string RepoRoot
    {
        get
        {
            for (var dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
            {
                if (File.Exists(Path.Combine(dir, "Belay.slnx")))
                {
                    return dir;
                }
            }
            throw new InvalidOperationException($"cannot find the repository root above {AppContext.BaseDirectory}");
        }
    }

    public static ToolResult Run(string executable, params string[] args) =>
        ExternalTool.Run(executable, args);

    public static ToolResult RunWith(IDictionary<string, string?> environment, string executable, params string[] args) =>
        ExternalTool.Run(executable, args, environment: environment);
}
