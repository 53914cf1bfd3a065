using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Crypto.Generators;

namespace Belay.Core.Minisign;

/// <summary>scrypt parameters: N = 2^<see cref="NLog2"/>, block size r, parallelism p.</summary>
internal readonly record struct ScryptParameters(int NLog2, int R, int P)
{
    public long N => 1L << NLog2;

    /// <summary>The memory scrypt needs: 128 * r * N bytes.</summary>
    public long MemoryBytes => 128L * R * N;
}

/// <summary>
/// The key derivation of an encrypted minisign secret key: libsodium's
/// crypto_pwhash_scryptsalsa208sha256, which turns the (opslimit, memlimit) stored in the key
/// file into scrypt's (N, r, p) with its "pickparams" rule, then runs plain scrypt.
/// </summary>
internal static class MinisignScrypt
{
    /// <summary>crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_SENSITIVE, what minisign -G uses.</summary>
    public const ulong SensitiveOpsLimit = 33554432;

    /// <summary>crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_SENSITIVE (1 GiB), what minisign -G uses.</summary>
    public const ulong SensitiveMemLimit = 1073741824;

    /// <summary>
    /// The most memory a key file may ask for: 4 GiB, four times minisign's default. A key
    /// asking for more is refused rather than left to exhaust the machine.
    /// </summary>
    public const long MaxMemoryBytes = 4L << 30;

    /// <summary>The most work (N * p) a key file may ask for: 16 times minisign's default.</summary>
    public const long MaxWork = 1L << 24;

    /// <summary>libsodium's pickparams, line for line (pwhash_scryptsalsa208sha256.c).</summary>
    public static ScryptParameters PickParameters(ulong opsLimit, ulong memLimit)
    {
        const ulong r = 8;
        if (opsLimit < 32768)
        {
            opsLimit = 32768;
        }
        int nLog2;
        ulong p;
        if (opsLimit < memLimit / 32)
        {
            p = 1;
            nLog2 = SmallestNLog2Above(opsLimit / (r * 4) / 2);
        }
        else
        {
            nLog2 = SmallestNLog2Above(memLimit / (r * 128) / 2);
            var maxrp = opsLimit / 4 / (1UL << nLog2);
            if (maxrp > 0x3fffffff)
            {
                maxrp = 0x3fffffff;
            }
            p = (uint)maxrp / r;
        }
        return new ScryptParameters(nLog2, (int)r, (int)p);
    }

    // for (N_log2 = 1; N_log2 < 63; N_log2++) if (1 << N_log2 > bound) break;
    private static int SmallestNLog2Above(ulong bound)
    {
        var nLog2 = 1;
        while (nLog2 < 63 && (1UL << nLog2) <= bound)
        {
            nLog2++;
        }
        return nLog2;
    }

    /// <summary>Why these limits cannot be used, or null when they can.</summary>
    public static string? CheckLimits(ulong opsLimit, ulong memLimit)
    {
        var parameters = PickParameters(opsLimit, memLimit);
        if (parameters.P < 1)
        {
            return $"scrypt limits opslimit={opsLimit} memlimit={memLimit} give parallelism p=0";
        }
        if (parameters.NLog2 > 30 || parameters.MemoryBytes > MaxMemoryBytes)
        {
            return $"scrypt limits opslimit={opsLimit} memlimit={memLimit} need more than {MaxMemoryBytes >> 30} GiB of memory";
        }
        if (parameters.N * parameters.P > MaxWork)
        {
            return $"scrypt limits opslimit={opsLimit} memlimit={memLimit} ask for p={parameters.P} with N=2^{parameters.NLog2}, " +
                "far more work than minisign ever uses";
        }
        return null;
    }

    /// <summary>
    /// The key stream an encrypted secret key is XORed with. The caller zeroes it after use.
    /// </summary>
    public static byte[] DeriveStream(string password, ReadOnlySpan<byte> salt, ulong opsLimit, ulong memLimit, int length)
    {
        var parameters = PickParameters(opsLimit, memLimit);
        var passwordBytes = Encoding.UTF8.GetBytes(password);
        try
        {
            return SCrypt.Generate(passwordBytes, salt.ToArray(), (int)parameters.N, parameters.R, parameters.P, length);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(passwordBytes);
        }
    }
}
