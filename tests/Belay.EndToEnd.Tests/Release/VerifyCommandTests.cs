using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Release;

/// <summary>`belay verify`, the operator's check of one file, against signatures from belay-release and from minisign.</summary>
public sealed class VerifyCommandTests : IDisposable
{
    private readonly ReleaseWorkspace _ws = new();

    public void Dispose() => _ws.Dispose();

    private string SignedFile()
    {
        var file = Path.Combine(_ws.Root, "payload.bin");
        File.WriteAllBytes(file, [.. Enumerable.Range(0, 5000).Select(i => (byte)i)]);
        var sign = ReleaseWorkspace.Release("sign", "--key", _ws.ReleaseKey, file);
        Assert.True(sign.ExitCode == 0, sign.ToString());
        return file;
    }

    [Fact]
    public void AGoodSignatureVerifiesWithTheKeyAsAFileOrAsTheBase64Line()
    {
        var file = SignedFile();
        var byFile = BelayBinaries.Run(BelayBinaries.Belay, "verify", file, "--public-key", _ws.ReleasePub);
        Assert.True(byFile.ExitCode == 0, byFile.ToString());
        Assert.Contains("Trusted comment: timestamp:", byFile.StdOut, StringComparison.Ordinal);
        var line = File.ReadAllLines(_ws.ReleasePub)[1];
        var byLine = BelayBinaries.Run(BelayBinaries.Belay, "verify", file, "--signature", file + ".minisig", "--public-key", line);
        Assert.True(byLine.ExitCode == 0, byLine.ToString());
    }

    [Fact]
    public void AChangedFileExitsWithTheTrustCodeAndSaysWhichCheckFailed()
    {
        var file = SignedFile();
        var bytes = File.ReadAllBytes(file);
        bytes[100] ^= 1;
        File.WriteAllBytes(file, bytes);
        var result = BelayBinaries.Run(BelayBinaries.Belay, "verify", file, "--public-key", _ws.ReleasePub);
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("verification failed", result.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void TheWrongKeyExitsWithTheTrustCode()
    {
        var file = SignedFile();
        var result = BelayBinaries.Run(BelayBinaries.Belay, "verify", file, "--public-key", _ws.RootPub);
        Assert.Equal(3, result.ExitCode);
    }

    [Fact]
    public void AMissingSignatureIsATrustFailureAndABadKeyIsAUsageError()
    {
        var file = Path.Combine(_ws.Root, "unsigned.txt");
        File.WriteAllText(file, "hello");
        Assert.Equal(3, BelayBinaries.Run(BelayBinaries.Belay, "verify", file, "--public-key", _ws.ReleasePub).ExitCode);
        var bad = BelayBinaries.Run(BelayBinaries.Belay, "verify", file, "--public-key", "not-a-key");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("not-a-key", bad.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void ASignatureMadeByTheStockMinisignToolVerifies()
    {
        var minisign = ExternalTool.Require("minisign", "minisign");
        var keyFile = Path.Combine(_ws.Root, "m.key");
        var pubFile = Path.Combine(_ws.Root, "m.pub");
        var gen = ExternalTool.Run(minisign, ["-G", "-W", "-s", keyFile, "-p", pubFile]);
        Assert.True(gen.ExitCode == 0, gen.ToString());
        var file = Path.Combine(_ws.Root, "data.txt");
        File.WriteAllText(file, "signed by minisign");
        var sign = ExternalTool.Run(minisign, ["-S", "-s", keyFile, "-m", file]);
        Assert.True(sign.ExitCode == 0, sign.ToString());
        var result = BelayBinaries.Run(BelayBinaries.Belay, "verify", file, "--public-key", pubFile);
        Assert.True(result.ExitCode == 0, result.ToString());
    }
}
