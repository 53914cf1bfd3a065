using System.Diagnostics;
using System.Globalization;
using Xunit;

namespace Belay.TestSupport;

/// <summary>
/// A small tmpfs mounted on a folder in a private mount namespace (unshare -m), so that a test can
/// fill a disk without touching the host's: the commands of the test run inside it through nsenter,
/// and what they start there (a detached keeper) stays in it. Needs root (mount namespaces), unshare
/// and nsenter (util-linux). Disposal ends the namespace's holder; whatever else ran in it must be
/// ended by the test (its processes keep the namespace alive).
/// </summary>
public sealed class PrivateMount : IDisposable
{
    private readonly Process _holder;

    private PrivateMount(Process holder, string folder)
    {
        _holder = holder;
        Folder = folder;
    }

    public string Folder { get; }

    public int Pid => _holder.Id;

    public static PrivateMount Tmpfs(string folder, int megabytes)
    {
        ExternalTool.Require("unshare", "util-linux");
        ExternalTool.Require("nsenter", "util-linux");
        if (ExternalTool.Run("id", ["-u"]).StdOut.Trim() != "0")
        {
            const string reason = "SKIPPED LOUDLY: a tmpfs in a private mount namespace needs root (run the tests as root, as CI does).";
            if (ExternalTool.ToolsRequired)
            {
                Assert.Fail(reason + " BELAY_REQUIRE_TOOLS=1, so this is a failure.");
            }
            Assert.Skip(reason);
        }
        Directory.CreateDirectory(folder);
        var psi = new ProcessStartInfo("unshare") { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true };
        foreach (var a in new[]
        {
            "-m", "--propagation", "private", "/bin/sh", "-ec",
            $"mount -t tmpfs -o size={megabytes.ToString(CultureInfo.InvariantCulture)}m tmpfs \"$0\"; echo mounted; exec cat", folder,
        })
        {
            psi.ArgumentList.Add(a);
        }
        var holder = Process.Start(psi) ?? throw new InvalidOperationException("could not start unshare");
        var line = holder.StandardOutput.ReadLine();
        if (line != "mounted")
        {
            holder.Kill();
            Assert.Fail($"could not mount a tmpfs on {folder} in a private namespace (said: {line})");
        }
        return new PrivateMount(holder, folder);
    }

    /// <summary>Runs a command inside the namespace.</summary>
    public ToolResult Run(string executable, IEnumerable<string> args, TimeSpan? timeout = null) =>
        ExternalTool.Run("nsenter", ["-t", Pid.ToString(CultureInfo.InvariantCulture), "-m", "--", executable, .. args], timeout: timeout);

    /// <summary>Fills the tmpfs up to <paramref name="leaveBytes"/> of free space with a file named FILLER in it.</summary>
    public void Fill(long leaveBytes = 0)
    {
        var filler = Path.Combine(Folder, "FILLER");
        Run("sh", ["-c", $"dd if=/dev/zero of='{filler}' bs=64k 2>/dev/null; true"]);
        if (leaveBytes > 0)
        {
            var size = long.Parse(Run("stat", ["-c", "%s", filler]).StdOut.Trim(), CultureInfo.InvariantCulture);
            Run("truncate", ["-s", Math.Max(0, size - leaveBytes).ToString(CultureInfo.InvariantCulture), filler]);
        }
    }

    public void Free() => Run("rm", ["-f", Path.Combine(Folder, "FILLER")]);

    public void Dispose()
    {
        try
        {
            if (!_holder.HasExited)
            {
                _holder.StandardInput.Close();
                if (!_holder.WaitForExit(TimeSpan.FromSeconds(5)))
                {
                    _holder.Kill();
                }
            }
        }
        catch (InvalidOperationException)
        {
        }
        _holder.Dispose();
    }
}
