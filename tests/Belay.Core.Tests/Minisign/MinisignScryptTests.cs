using Belay.Core.Minisign;

namespace Belay.Core.Tests.Minisign;

public sealed class MinisignScryptTests
{
    [Theory]
    // minisign's defaults (OPSLIMIT_SENSITIVE, MEMLIMIT_SENSITIVE): N=2^20, r=8, p=1, 1 GiB.
    [InlineData(33554432UL, 1073741824UL, 20, 1)]
    // minisign halves both when memory runs short.
    [InlineData(16777216UL, 536870912UL, 19, 1)]
    // libsodium's INTERACTIVE limits.
    [InlineData(524288UL, 16777216UL, 14, 1)]
    // Few operations, much memory: p=1 and N from the operations.
    [InlineData(32768UL, 16777216UL, 10, 1)]
    // Operations below 32768 count as 32768.
    [InlineData(1UL, 16777216UL, 10, 1)]
    // Many operations, little memory: N from the memory, the rest goes to p.
    [InlineData(1UL << 26, 1UL << 20, 10, 2048)]
    [InlineData(1UL << 22, 1UL << 20, 10, 128)]
    public void ParametersArePickedAsLibsodiumPicksThem(ulong opsLimit, ulong memLimit, int nLog2, int p)
    {
        var parameters = MinisignScrypt.PickParameters(opsLimit, memLimit);

        Assert.Equal(new ScryptParameters(nLog2, 8, p), parameters);
    }

    [Fact]
    public void MinisignDefaultsAreWithinTheLimitsAcceptedFromAKeyFile()
    {
        Assert.Null(MinisignScrypt.CheckLimits(MinisignScrypt.SensitiveOpsLimit, MinisignScrypt.SensitiveMemLimit));
        Assert.Equal(1L << 30, MinisignScrypt.PickParameters(MinisignScrypt.SensitiveOpsLimit, MinisignScrypt.SensitiveMemLimit).MemoryBytes);
    }

    [Fact]
    public void TheKeyStreamIsScryptOfTheUtf8PasswordAndTheSalt()
    {
        // Interop with minisign (MinisignInteropTests) pins the exact derivation; here, that it
        // is deterministic and depends on each input.
        var salt = new byte[32];
        var a = MinisignScrypt.DeriveStream("pässword", salt, 32768, 16 << 20, 104);
        var b = MinisignScrypt.DeriveStream("pässword", salt, 32768, 16 << 20, 104);
        var otherPassword = MinisignScrypt.DeriveStream("password", salt, 32768, 16 << 20, 104);
        salt[0] = 1;
        var otherSalt = MinisignScrypt.DeriveStream("pässword", salt, 32768, 16 << 20, 104);

        Assert.Equal(104, a.Length);
        Assert.Equal(a, b);
        Assert.NotEqual(a, otherPassword);
        Assert.NotEqual(a, otherSalt);
    }
}
