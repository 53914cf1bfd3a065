using System.Buffers.Binary;
using System.IO.Compression;
using Belay.Core.IO;

namespace Belay.Core.Archives;

/// <summary>
/// The compact form of an agent archive (docs/feed.md, "The compact archive"): the very tar that the
/// .tar.gz holds, compressed with Brotli (quality 11, 16 MB window) instead of gzip, and for x86-64
/// code first passed through <see cref="X86BranchFilter"/>, which turns the relative targets of call and
/// jump instructions into absolute ones so that repeated calls to one function become repeated bytes.
/// For the NativeAOT agent that is 4.77 MB as .tar.gz and 3.50 MB in this form (measured 2026-12-07).
/// Named <c>.tar.x86.br</c> with the filter and <c>.tar.br</c> without (then a plain tar.br): a name
/// says what a reader must undo, so <c>brotli -d | tar -x</c> is never silently wrong.
/// Decoding needs only the BCL: the Brotli decoder is in every NativeAOT executable that links
/// System.IO.Compression, and the filter's inverse is a few lines here.
/// </summary>
public static class CompactArchive
{
    /// <summary>The name's ending when the x86 filter was applied.</summary>
    public const string X86Extension = ".tar.x86.br";

    /// <summary>The name's ending of a plain Brotli-compressed tar.</summary>
    public const string PlainExtension = ".tar.br";

    /// <summary>How hard the encoder works.</summary>
    public enum Level
    {
        /// <summary>Brotli quality 11 (what a release ships; about 30 s for a 10 MB agent on one core).</summary>
        Best,

        /// <summary>Brotli quality 5 (under a second; tests and quick local feeds).</summary>
        Fast,
    }

    private const int Window = 24;

    /// <summary>
    /// The compact archive's name ending for <paramref name="rid"/>: <see cref="X86Extension"/> for x86-64
    /// RIDs, <see cref="PlainExtension"/> for other Unix RIDs, null for Windows (which ships .zip only).
    /// </summary>
    public static string? ExtensionFor(string rid)
    {
        ArgumentNullException.ThrowIfNull(rid);
        if (rid.StartsWith("win-", StringComparison.Ordinal))
        {
            return null;
        }
        return rid.EndsWith("-x64", StringComparison.Ordinal) ? X86Extension : PlainExtension;
    }

    /// <summary>True when <paramref name="path"/> names a compact archive (either ending).</summary>
    public static bool IsCompact(string path) =>
        path.EndsWith(X86Extension, StringComparison.OrdinalIgnoreCase) || path.EndsWith(PlainExtension, StringComparison.OrdinalIgnoreCase);

    /// <summary>Encodes <paramref name="tar"/> for a file named with <paramref name="extension"/> (one of the two endings).</summary>
    public static byte[] Encode(ReadOnlySpan<byte> tar, string extension, Level level)
    {
        var filtered = tar.ToArray();
        if (IsX86(extension))
        {
            X86BranchFilter.Encode(filtered);
        }
        var quality = level == Level.Best ? 11 : 5;
        var output = new byte[BrotliEncoder.GetMaxCompressedLength(filtered.Length)];
        if (!BrotliEncoder.TryCompress(filtered, output, out var written, quality, Window))
        {
            throw new InvalidOperationException("Brotli could not compress the archive");
        }
        return output.AsSpan(0, written).ToArray();
    }

    /// <summary>
    /// A read-only stream of the tar inside <paramref name="compressed"/> (named <paramref name="path"/>, which
    /// says whether the filter was applied). Damaged input surfaces as <see cref="InvalidDataException"/>.
    /// </summary>
    public static Stream OpenTar(Stream compressed, string path, bool leaveOpen = false)
    {
        // Through the decoding stream even without the filter: it also turns the BCL Brotli decoder's complaint about
        // damaged input (an InvalidOperationException) into the InvalidDataException that gzip and zip readers throw.
        return new X86BranchFilter.DecodingStream(new BrotliStream(compressed, CompressionMode.Decompress, leaveOpen), unfilter: IsX86(path));
    }

    /// <summary>
    /// Checks that the compact archive at <paramref name="compactPath"/> holds byte for byte the tar inside the .tar.gz at
    /// <paramref name="archivePath"/> (what publish checks before it lists both); throws naming the first difference.
    /// </summary>
    public static void CheckSameTar(string archivePath, string compactPath)
    {
        if (SameTarProblem(archivePath, compactPath) is { } problem)
        {
            throw new BelayException($"{compactPath} does not hold the same tar as {archivePath} ({problem}); package both again with belay-release package");
        }
    }

    /// <summary>
    /// Null when the compact archive at <paramref name="compactPath"/> (its name's ending says whether to undo the filter)
    /// holds byte for byte the tar inside the .tar.gz at <paramref name="archivePath"/>; otherwise how they differ.
    /// </summary>
    public static string? SameTarProblem(string archivePath, string compactPath)
    {
        try
        {
            using var gz = new GZipStream(File.OpenRead(archivePath), CompressionMode.Decompress);
            using var compact = OpenTar(File.OpenRead(compactPath), compactPath);
            var a = new byte[64 * 1024];
            var b = new byte[64 * 1024];
            long offset = 0;
            while (true)
            {
                var na = gz.ReadAtLeast(a, a.Length, throwOnEndOfStream: false);
                var nb = compact.ReadAtLeast(b, b.Length, throwOnEndOfStream: false);
                var same = a.AsSpan(0, na).CommonPrefixLength(b.AsSpan(0, nb));
                if (same < Math.Max(na, nb))
                {
                    return $"they differ at byte {offset + same} of the tar";
                }
                if (na == 0)
                {
                    return null;
                }
                offset += na;
            }
        }
        catch (InvalidDataException e)
        {
            return $"one of them is damaged: {e.Message}";
        }
    }

    private static bool IsX86(string path) => path.EndsWith(X86Extension, StringComparison.OrdinalIgnoreCase);
}

/// <summary>
/// A reversible filter for x86 and x86-64 machine code (the idea of xz's and 7-Zip's BCJ x86 filter, in its
/// simplest sound form). At each position the scan reaches, a byte E8 (call rel32) or E9 (jmp rel32) is taken
/// as an opcode followed by a 4-byte operand, and the scan moves on past the operand. The operand is
/// converted from relative (to the next instruction) to absolute (the position in the stream) only when its
/// top byte is 00 or FF, that is when it lies within ±16 MB, as real near calls do; the absolute value is kept
/// to 25 bits, sign-extended, so its top byte is 00 or FF again. The decoder therefore sees the same opcode
/// positions (operands are skipped whether converted or not) and the same decision (a converted operand's top
/// byte is 00 or FF, one left alone never is), and undoes each conversion exactly: any input round-trips,
/// code or not.
/// </summary>
public static class X86BranchFilter
{
    private const int InstructionLength = 5;

    /// <summary>Filters <paramref name="data"/> in place; <paramref name="start"/> is the stream position of its first byte.</summary>
    public static void Encode(Span<byte> data, long start = 0) => Apply(data, start, encode: true);

    /// <summary>Undoes <see cref="Encode"/> in place.</summary>
    public static void Decode(Span<byte> data, long start = 0) => Apply(data, start, encode: false);

    /// <summary>
    /// Runs the scan over <paramref name="data"/> up to the last position that has a whole instruction after it;
    /// returns how many bytes are final (the rest, at most four, must be scanned again with what follows).
    /// </summary>
    private static int Apply(Span<byte> data, long start, bool encode)
    {
        var i = 0;
        while (i + InstructionLength <= data.Length)
        {
            var op = data[i];
            if (op is 0xE8 or 0xE9)
            {
                var top = data[i + 4];
                if (top is 0x00 or 0xFF)
                {
                    var operand = data.Slice(i + 1, 4);
                    var value = BinaryPrimitives.ReadInt32LittleEndian(operand);
                    var next = unchecked((int)(start + i + InstructionLength));
                    var converted = encode ? unchecked(value + next) : unchecked(value - next);
                    BinaryPrimitives.WriteInt32LittleEndian(operand, (converted << 7) >> 7);
                }
                i += InstructionLength;
            }
            else
            {
                i++;
            }
        }
        return i;
    }

    /// <summary>
    /// Undoes the filter on a stream as it is read (the tar inside a .tar.x86.br); with <c>unfilter</c> false it passes
    /// the bytes on as they are. Either way a Brotli decoder's InvalidOperationException on damaged input surfaces as
    /// <see cref="InvalidDataException"/>.
    /// </summary>
    public sealed class DecodingStream(Stream inner, bool unfilter = true) : ReadOnlyStream
    {
        private readonly Stream _inner = inner;
        private readonly byte[] _buffer = new byte[64 * 1024];
        // _buffer[_ready.._final) is decoded and not yet handed out; _buffer[_final.._filled) is read but not yet
        // scanned (fewer than five bytes, or all of it at the end of the stream).
        private int _ready;
        private int _final;
        private int _filled;
        private long _bufferStart;
        private bool _ended;

        public override int Read(Span<byte> buffer)
        {
            if (buffer.IsEmpty)
            {
                return 0;
            }
            while (_ready == _final)
            {
                if (_ended)
                {
                    return 0;
                }
                Refill();
            }
            var n = Math.Min(buffer.Length, _final - _ready);
            _buffer.AsSpan(_ready, n).CopyTo(buffer);
            _ready += n;
            return n;
        }

        private void Refill()
        {
            // Keep the unscanned tail at the front and read after it.
            var tail = _filled - _final;
            _buffer.AsSpan(_final, tail).CopyTo(_buffer);
            _bufferStart += _final;
            _ready = 0;
            _final = 0;
            _filled = tail;
            while (_filled < _buffer.Length)
            {
                int read;
                try
                {
                    read = _inner.Read(_buffer, _filled, _buffer.Length - _filled);
                }
                catch (InvalidOperationException e) when (_inner is BrotliStream)
                {
                    throw new InvalidDataException($"the Brotli data is damaged ({e.Message})", e);
                }
                if (read == 0)
                {
                    _ended = true;
                    break;
                }
                _filled += read;
                if (_filled - tail >= 16 * 1024)
                {
                    break;
                }
            }
            var scanned = unfilter ? Apply(_buffer.AsSpan(0, _filled), _bufferStart, encode: false) : _filled;
            // At the end, the last bytes (fewer than an instruction) pass as they are, as they did when encoding.
            _final = _ended ? _filled : scanned;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
