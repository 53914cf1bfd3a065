using System.IO.Compression;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Installers;

/// <summary>
/// install.sh downloads the bootstrapper's gzip copy (bootstrap/&lt;version&gt;/belay-&lt;rid&gt;.gz):
/// its pinned SHA-256 is checked before gzip runs, the decompressed file's after, and the output is
/// capped at the pinned size. Anything else stops with exit 3 and leaves nothing behind; without gzip
/// the raw bootstrapper (also pinned) is downloaded instead.
/// </summary>
public sealed class InstallShGzipTests : IDisposable
{
    private readonly InstallShHost _host = new();

    public void Dispose() => _host.Dispose();

    private string[] UserArgs => ["--user", "--prefix", _host.Prefix, "--service-manager", "none", "--no-start"];

    private string Gz => _host.BootstrapPath + ".gz";

    /// <summary>A PATH whose gzip records each call and then runs the real one (or busybox's, with its head and wc).</summary>
    private (string Path, string Record) RecordingGzip(bool busybox)
    {
        var fakes = Path.Combine(_host.Workspace.Root, "fakes-" + Guid.NewGuid().ToString("N")[..8]);
        var record = Path.Combine(_host.Workspace.Root, "gzip.log");
        var real = busybox ? ExternalTool.Require("busybox", "busybox") + " gzip" : ExternalTool.Require("gzip", "gzip");
        ScriptPath.Fake(fakes, "gzip", $"echo \"gzip $*\" >> {InstallShHost.Q(record)}\nexec {real} \"$@\"");
        var extra = new List<(string, string)> { ("gzip", Path.Combine(fakes, "gzip")) };
        if (busybox)
        {
            var bb = ExternalTool.Require("busybox", "busybox");
            extra.Add(("head", bb));
            extra.Add(("wc", bb));
        }
        return (ScriptPath.SystemWithout(_host.Workspace.Root, [], [.. extra]), record);
    }

    /// <summary>Pins <paramref name="bytes"/> as the gzip copy in the served install.sh (what a feed that published a bad copy would serve).</summary>
    private void ServePinnedGzip(byte[] bytes)
    {
        var old = InstallShTests.Sha256(Gz);
        File.WriteAllBytes(Gz, bytes);
        var script = File.ReadAllText(_host.ScriptPath);
        Assert.Contains(old, script, StringComparison.Ordinal);
        File.WriteAllText(_host.ScriptPath, script.Replace(old, InstallShTests.Sha256(Gz), StringComparison.Ordinal));
    }

    private static byte[] Gzip(params byte[][] parts)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            foreach (var part in parts)
            {
                gzip.Write(part);
            }
        }
        return output.ToArray();
    }

    private void AssertRefusedAndNothingLeft(ToolResult result, string message)
    {
        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains(message, result.StdErr, StringComparison.Ordinal);
        Assert.Contains("refusing to run it, nothing was installed", result.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("running:", result.StdOut, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_host.Prefix));
        Assert.True(_host.TempIsEmpty, "install.sh left files in TMPDIR: " + string.Join(", ", Directory.EnumerateFileSystemEntries(_host.TempDir, "*", SearchOption.AllDirectories)));
    }

    [Theory]
    [InlineData("dash", "truncated")]
    [InlineData("busybox", "truncated")]
    [InlineData("dash", "corrupt")]
    [InlineData("busybox", "corrupt")]
    public void ADamagedDownloadIsRefusedBeforeGzipRuns(string shell, string damage)
    {
        var bytes = File.ReadAllBytes(Gz);
        if (damage == "truncated")
        {
            bytes = bytes[..(bytes.Length / 2)];
        }
        else
        {
            bytes[bytes.Length / 3] ^= 0x5a;
        }
        File.WriteAllBytes(Gz, bytes);
        var (path, record) = RecordingGzip(shell == "busybox");

        var result = _host.Pipe(InstallShTests.Shell(shell), UserArgs, path);
        AssertRefusedAndNothingLeft(result, $"has SHA-256 {InstallShTests.Sha256(Gz)}, but this install.sh pins");
        Assert.False(File.Exists(record), "gzip ran on a download that does not match its pinned SHA-256: " + (File.Exists(record) ? File.ReadAllText(record) : ""));
    }

    [Theory]
    [InlineData("dash")]
    [InlineData("busybox")]
    public void APinnedGzipCopyThatDoesNotDecompressIsRefused(string shell)
    {
        var good = File.ReadAllBytes(Gz);
        ServePinnedGzip(good[..(good.Length - 4096)]);
        var (path, record) = RecordingGzip(shell == "busybox");

        var result = _host.Pipe(InstallShTests.Shell(shell), UserArgs, path);
        AssertRefusedAndNothingLeft(result, "but gzip -dc could not decompress it (a corrupt or cut-short gzip file)");
        Assert.Contains("gzip -dc", File.ReadAllText(record), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("dash")]
    [InlineData("busybox")]
    public void AGzipCopyThatDecompressesPastThePinnedSizeIsCutOffAndRefused(string shell)
    {
        // The bootstrapper followed by 256 MiB of zeros: a few hundred KB more to download, and
        // nothing past the pinned size + 1 byte may reach the disk.
        var raw = File.ReadAllBytes(_host.BootstrapPath);
        ServePinnedGzip(Gzip(raw, new byte[256 << 20]));
        var (path, _) = RecordingGzip(shell == "busybox");

        var result = _host.Pipe(InstallShTests.Shell(shell), UserArgs, path);
        AssertRefusedAndNothingLeft(result, $"but it decompresses to more than the {raw.Length} bytes pinned for it");
    }

    [Theory]
    [InlineData("dash")]
    [InlineData("busybox")]
    public void ADecompressedFileNotWrittenWholeIsRefusedAlthoughItsStreamMatches(string shell)
    {
        // The decompressed bytes are hashed as tee writes them: a tee that hands the hasher every byte
        // (so the SHA-256 matches the pin) but writes only part of the file (a full disk) must not get
        // that part run.
        var fakes = Path.Combine(_host.Workspace.Root, "fakes-" + Guid.NewGuid().ToString("N")[..8]);
        ScriptPath.Fake(fakes, "tee", "cat > \"$1.all\"; head -c 4096 \"$1.all\" > \"$1\"; cat \"$1.all\"; rm -f \"$1.all\"; echo 'tee: write error: No space left on device' >&2; exit 1");
        var path = ScriptPath.SystemWithout(_host.Workspace.Root, [], ("tee", Path.Combine(fakes, "tee")));

        var result = _host.Pipe(InstallShTests.Shell(shell), UserArgs, path);
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("matches its pinned SHA-256, but it could not be written whole to ", result.StdErr, StringComparison.Ordinal);
        Assert.Contains("refusing to run it, nothing was installed", result.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("running:", result.StdOut, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_host.Prefix));
        Assert.True(_host.TempIsEmpty, "install.sh left files in TMPDIR");
        Assert.DoesNotContain($"verified SHA-256 {InstallShTests.Sha256(_host.BootstrapPath)}", result.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void AGzipCopyOfOtherBytesIsRefusedByTheBootstrappersPinnedHash()
    {
        var other = File.ReadAllBytes(_host.BootstrapPath);
        other[other.Length / 2] ^= 0xff;
        ServePinnedGzip(Gzip(other));

        var result = _host.Pipe(InstallShTests.Shell("dash"), UserArgs);
        AssertRefusedAndNothingLeft(result, $", decompressed, has SHA-256 {Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(other))}, but this install.sh pins {InstallShTests.Sha256(_host.BootstrapPath)}");
    }

    [Theory]
    [InlineData("dash")]
    [InlineData("busybox")]
    public void WithoutGzipTheRawBootstrapperIsDownloadedAndChecked(string shell)
    {
        var path = ScriptPath.SystemWithout(_host.Workspace.Root, ["gzip"]);
        var result = _host.Pipe(InstallShTests.Shell(shell), UserArgs, path);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("gzip is not installed: downloading the uncompressed bootstrapper instead", result.StdErr, StringComparison.Ordinal);
        Assert.Contains($"verified SHA-256 {InstallShTests.Sha256(_host.BootstrapPath)} (bootstrap/0.1.0/belay-linux-x64)", result.StdOut, StringComparison.Ordinal);
        Assert.Contains("GET /bootstrap/0.1.0/belay-linux-x64 ", _host.Nginx.AccessLog, StringComparison.Ordinal);
        Assert.DoesNotContain("belay-linux-x64.gz", _host.Nginx.AccessLog, StringComparison.Ordinal);
        Assert.True(_host.TempIsEmpty);
    }
}
