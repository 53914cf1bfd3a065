using System.Text;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Installers;

/// <summary>
/// A download of install.sh cut short anywhere, piped to sh, must run nothing: every
/// command the script could call is a fake on PATH that records being called.
/// </summary>
public sealed class InstallShTruncationTests : IDisposable
{
    private static readonly string[] Commands =
    [
        "uname", "id", "mktemp", "chmod", "rm", "tr", "sleep", "curl", "wget", "sudo", "sha256sum", "shasum",
        "openssl", "digest", "ldd", "getconf", "sysctl", "belay", "cat", "sh", "gzip", "head", "wc", "mv",
    ];

    private readonly TempDir _dir = new("belay-e2e-");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [ClassData(typeof(InstallShPlatformTests.ShellData))]
    public void AScriptCutAnywhereRunsNothing(string shell)
    {
        var script = Encoding.UTF8.GetBytes(InstallShScript.Render());
        var fakes = _dir.Combine("fakes");
        var record = _dir.Combine("called.log");
        foreach (var name in Commands)
        {
            ScriptPath.Fake(fakes, name, $"echo \"{name} $*\" >> '{record}'");
        }
        var prefix = _dir.Combine("host");
        var sh = InstallShTests.Shell(shell);
        // The fakes are all there is on PATH: the shell itself is started by its full path.
        ToolResult Run(int length) => ExternalTool.Run(sh[0], [.. sh[1..], "-s", "--", "--user", "--prefix", prefix, "--service-manager", "none"],
            stdin: Encoding.UTF8.GetString(script, 0, length),
            environment: new Dictionary<string, string?> { ["PATH"] = fakes, ["TMPDIR"] = _dir.Path, ["HOME"] = _dir.Path });

        // The whole script does call them: the recorder works.
        var whole = Run(script.Length);
        Assert.True(File.Exists(record), "the whole script ran no fake command: " + whole);
        File.Delete(record);

        var cuts = new SortedSet<int>();
        for (var i = 0; i < script.Length; i += 13)
        {
            cuts.Add(i);
        }
        for (var i = 0; i < script.Length; i++)
        {
            if (script[i] == '\n')
            {
                cuts.Add(i);
                cuts.Add(i + 1);
            }
        }
        for (var i = Math.Max(0, script.Length - 64); i < script.Length; i++)
        {
            cuts.Add(i);
        }
        // A cut that loses only the final newline loses nothing.
        cuts.RemoveWhere(c => script.AsSpan(c).Trim((byte)'\n').IsEmpty);
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.ForEach(cuts, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(2, Environment.ProcessorCount) }, cut =>
        {
            var result = Run(cut);
            if (File.Exists(record) || Directory.Exists(prefix))
            {
                failures.Add($"cut after {cut} of {script.Length} bytes, ending with: {Encoding.UTF8.GetString(script, Math.Max(0, cut - 80), Math.Min(80, cut))}\n{result}");
            }
        });
        Assert.True(failures.IsEmpty, $"{shell}: a cut-short script ran commands: {(File.Exists(record) ? File.ReadAllText(record) : "")}\n{string.Join("\n", failures.Take(3))}");
        Assert.True(cuts.Count > 1500, $"only {cuts.Count} cuts");
    }
}
