using Xunit;

namespace Belay.TestSupport;

/// <summary>
/// Runs a command as an unprivileged user (nobody, uid 65534) when the tests run as root, the
/// way an operator without sudo would: setpriv drops the uid, gid and supplementary groups.
/// Tests that need it skip loudly when they do not run as root (they cannot switch users then).
/// </summary>
public static class OtherUser
{
    public const int Uid = 65534;

    public static bool TestsRunAsRoot => Environment.UserName == "root";

    /// <summary>Skips (or, in CI, fails) the test unless it can run commands as nobody.</summary>
    public static void Require()
    {
        if (!TestsRunAsRoot)
        {
            var reason = "SKIPPED LOUDLY: running a command as another user needs the tests to run as root (setpriv).";
            if (ExternalTool.ToolsRequired)
            {
                Assert.Fail(reason + " BELAY_REQUIRE_TOOLS=1, so this is a failure.");
            }
            Assert.Skip(reason);
        }
        ExternalTool.Require("setpriv", "util-linux");
    }

    public static ToolResult Run(string executable, IEnumerable<string> args, TimeSpan? timeout = null)
    {
        Require();
        var setpriv = ExternalTool.Require("setpriv", "util-linux");
        return ExternalTool.Run(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", executable, .. args], timeout: timeout);
    }

    /// <summary>Lets others into <paramref name="folder"/> and every folder above it up to <paramref name="top"/> (mode 0755), not into the files.</summary>
    public static void OpenPath(string top, string folder)
    {
        for (var dir = Path.GetFullPath(folder); dir.StartsWith(Path.GetFullPath(top), StringComparison.Ordinal); dir = Path.GetDirectoryName(dir)!)
        {
            if (Directory.Exists(dir))
            {
                File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
            }
            if (dir == Path.GetFullPath(top))
            {
                break;
            }
        }
    }
}
