using System.IO.Compression;
using System.Security.Cryptography;
using Belay.Core.Feed;

namespace Belay.Core.Publishing;

/// <summary>
/// The gzip copy of a bootstrapper that install.sh downloads (bootstrap/&lt;version&gt;/belay-&lt;rid&gt;.gz,
/// docs/feed.md): gzip because it is the one decompressor a minimal Debian, Alpine (busybox) and
/// macOS all have. The raw bootstrapper stays beside it: the manifest binds it, install.ps1 uses it, and install.sh falls back to it without gzip.
/// </summary>
public static class BootstrapGzip
{
    /// <summary><paramref name="source"/> gzip-compressed at the BCL's smallest size (what `gzip -dc` reads).</summary>
    public static byte[] Compress(string source)
    {
        using var output = new MemoryStream();
        using (var input = File.OpenRead(source))
        using (var gzip = new GZipStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            input.CopyTo(gzip);
        }
        return output.ToArray();
    }

    /// <summary>
    /// Checks that <paramref name="gzipFile"/> decompresses to exactly the bootstrapper the manifest
    /// binds (<paramref name="sha256"/>, <paramref name="size"/>), reading no more than size + 1
    /// bytes of output; returns the SHA-256 of the compressed file, or throws a trust failure.
    /// </summary>
    public static string Verify(string gzipFile, string sha256, long size)
    {
        using var stream = File.OpenRead(gzipFile);
        var compressedSha = Convert.ToHexStringLower(SHA256.HashData(stream));
        stream.Position = 0;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long total = 0;
        try
        {
            using var gzip = new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true);
            var buffer = new byte[81920];
            int read;
            while ((read = gzip.Read(buffer)) > 0)
            {
                total += read;
                if (total > size)
                {
                    break;
                }
                hash.AppendData(buffer, 0, read);
            }
        }
        catch (InvalidDataException e)
        {
            throw BelayException.Trust($"{gzipFile} is not a valid gzip file ({e.Message}): the feed folder was changed after publishing; publish the bootstrapper again", e);
        }
        // The BCL stops quietly at a missing trailer where gzip -dc fails: the last 4 bytes are the size mod 2^32.
        var trailer = new byte[4];
        if (stream.Length < 18 || RandomAccess.Read(stream.SafeFileHandle, trailer, stream.Length - 4) != 4
            || System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(trailer) != (uint)size)
        {
            throw BelayException.Trust($"{gzipFile} is cut short (its gzip trailer does not give the bootstrapper's size, {size} bytes): the feed folder was changed after publishing; publish the bootstrapper again");
        }
        var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
        if (total != size || actual != sha256)
        {
            throw BelayException.Trust($"{gzipFile} does not decompress to the bootstrapper the manifest binds ({(total > size ? $"more than {size} bytes" : $"{total} bytes, SHA-256 {actual}")}; manifest {size} bytes, SHA-256 {sha256}): the feed folder was changed after publishing");
        }
        return compressedSha;
    }

    /// <summary>Whether a RID's bootstrapper gets a gzip copy: those install.sh offers (Windows has install.ps1 and the MSI).</summary>
    public static bool IsFor(string rid) => InstallScript.ScriptRids.Contains(rid);

    public static string PathOf(string bootstrapPath) => bootstrapPath + FeedLayout.GzipSuffix;
}
