using System.Buffers.Binary;
using System.IO.Compression;
using Belay.Core.IO;

namespace Belay.Core.Archives;

/// <summary>
/// The compact form of an agent archive (docs/feed.md, "The compact archive"): the very tar that the
/// .tar.gz holds, compressed with Brotli (quality 11, 16 MB window) instead of gzip, and for x86-64 and
/// ARM64 code first passed through a branch filter (<see cref="X86BranchFilter"/>, <see cref="Arm64BranchFilter"/>),
/// which turns the relative targets of calls into absolute ones so that repeated calls to one function become
/// repeated bytes. For the NativeAOT agent that is 4.77 MB as .tar.gz and 3.50 MB in this form on linux-x64,
/// 3.11 MB (plain Brotli 3.38) on linux-arm64 (measured 2026-12-07).
/// Named <c>.tar.x86.br</c> and <c>.tar.a64.br</c> with a filter and <c>.tar.br</c> without (then a plain tar.br):
/// a name says what a reader must undo, so <c>brotli -d | tar -x</c> is never silently wrong.
/// Decoding needs only the BCL: the Brotli decoder is in every NativeAOT executable that links
/// System.IO.Compression, and the filter's inverse is a few lines here.
/// </summary>
public static class CompactArchive
{
    /// <summary>The name's ending when the x86 filter was applied.</summary>
    public const string X86Extension = ".tar.x86.br";

    /// <summary>The name's ending when the ARM64 filter was applied.</summary>
    public const string Arm64Extension = ".tar.a64.br";

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
    /// The compact archive's name ending for <paramref name="rid"/>: <see cref="X86Extension"/> for x86-64 RIDs,
    /// <see cref="Arm64Extension"/> for ARM64 RIDs, <see cref="PlainExtension"/> for other Unix RIDs, null for Windows
    /// (which ships .zip only).
    /// </summary>
    public static string? ExtensionFor(string rid)
    {
        ArgumentNullException.ThrowIfNull(rid);
        if (rid.StartsWith("win-", StringComparison.Ordinal))
        {
            return null;
        }
        return rid.EndsWith("-x64", StringComparison.Ordinal) ? X86Extension
            : rid.EndsWith("-arm64", StringComparison.Ordinal) ? Arm64Extension
            : PlainExtension;
    }

    /// <summary>True when <paramref name="path"/> names a compact archive (any of the endings).</summary>
    public static bool IsCompact(string path) =>
        path.EndsWith(X86Extension, StringComparison.OrdinalIgnoreCase) || path.EndsWith(Arm64Extension, StringComparison.OrdinalIgnoreCase)
        || path.EndsWith(PlainExtension, StringComparison.OrdinalIgnoreCase);

    /// <summary>Encodes <paramref name="tar"/> for a file named with <paramref name="extension"/> (one of the endings).</summary>
    public static byte[] Encode(ReadOnlySpan<byte> tar, string extension, Level level)
    {
        var filtered = tar.ToArray();
        BranchFilters.Apply(FilterOf(extension), filtered, 0, encode: true);
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
        // Through the decoding stream even without a filter: it also turns the BCL Brotli decoder's complaint about
        // damaged input (an InvalidOperationException) into the InvalidDataException that gzip and zip readers throw.
        return new BranchDecodingStream(new BrotliDecodingStream(compressed, leaveOpen), FilterOf(path));
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

    private static BranchFilter FilterOf(string path) =>
        path.EndsWith(X86Extension, StringComparison.OrdinalIgnoreCase) ? BranchFilter.X86
        : path.EndsWith(Arm64Extension, StringComparison.OrdinalIgnoreCase) ? BranchFilter.Arm64
        : BranchFilter.None;
}

/// <summary>Which branch filter a compact archive's tar went through.</summary>
public enum BranchFilter
{
    None,
    X86,
    Arm64,
}

/// <summary>The branch filters by kind.</summary>
internal static class BranchFilters
{
    /// <summary>
    /// Runs <paramref name="filter"/> over <paramref name="data"/> (whose first byte is at stream position
    /// <paramref name="start"/>) up to the last position with a whole instruction after it; returns how many bytes are
    /// final (the rest must be run again with what follows, or pass as they are at the end of the stream).
    /// </summary>
    public static int Apply(BranchFilter filter, Span<byte> data, long start, bool encode) => filter switch
    {
        BranchFilter.X86 => X86BranchFilter.Apply(data, start, encode),
        BranchFilter.Arm64 => Arm64BranchFilter.Apply(data, start, encode),
        _ => data.Length,
    };
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
    internal static int Apply(Span<byte> data, long start, bool encode)
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
}

/// <summary>
/// xz's ARM64 filter (xz 5.4, src/liblzma/simple/arm64.c), for 4-byte aligned A64 code: the 26-bit word offset of
/// each BL, and the 21-bit page offset of each ADRP whose offset lies within ±512 MB (kept to that range, so that the
/// decoder sees the same choice), become absolute. A BL keeps its opcode bits and an ADRP its register and opcode
/// bits, and each conversion is undone exactly by the decoder at the same aligned position: any input round-trips.
/// </summary>
public static class Arm64BranchFilter
{
    /// <summary>Filters <paramref name="data"/> in place; <paramref name="start"/> (a multiple of 4) is the stream position of its first byte.</summary>
    public static void Encode(Span<byte> data, long start = 0) => Apply(data, start, encode: true);

    /// <summary>Undoes <see cref="Encode"/> in place.</summary>
    public static void Decode(Span<byte> data, long start = 0) => Apply(data, start, encode: false);

    /// <summary>Converts each whole 4-byte word; returns how many bytes are final (the rest, at most three, wait for what follows).</summary>
    internal static int Apply(Span<byte> data, long start, bool encode)
    {
        var i = 0;
        for (; i + 4 <= data.Length; i += 4)
        {
            var word = data.Slice(i, 4);
            var instruction = BinaryPrimitives.ReadUInt32LittleEndian(word);
            var pc = unchecked((uint)(start + i));
            if (instruction >> 26 == 0x25)
            {
                // BL imm26: in units of 4 bytes.
                var offset = pc >> 2;
                if (!encode)
                {
                    offset = 0u - offset;
                }
                BinaryPrimitives.WriteUInt32LittleEndian(word, 0x94000000u | ((instruction + offset) & 0x03FFFFFFu));
            }
            else if ((instruction & 0x9F000000u) == 0x90000000u)
            {
                // ADRP: immlo in bits 29-30, immhi in bits 5-23, in units of 4 KB pages.
                var source = ((instruction >> 29) & 3u) | ((instruction >> 3) & 0x001FFFFCu);
                if (((source + 0x00020000u) & 0x001C0000u) != 0)
                {
                    continue;
                }
                var offset = pc >> 12;
                if (!encode)
                {
                    offset = 0u - offset;
                }
                var destination = source + offset;
                instruction &= 0x9000001Fu;
                instruction |= (destination & 3u) << 29;
                instruction |= (destination & 0x0003FFFCu) << 3;
                instruction |= (0u - (destination & 0x00020000u)) & 0x00E00000u;
                BinaryPrimitives.WriteUInt32LittleEndian(word, instruction);
            }
        }
        return i;
    }
}

/// <summary>
/// Undoes a branch filter on a stream as it is read (the tar inside a .tar.x86.br or .tar.a64.br); with
/// <see cref="BranchFilter.None"/> it passes the bytes on as they are. Either way a Brotli decoder's
/// InvalidOperationException on damaged input surfaces as <see cref="InvalidDataException"/>.
/// </summary>
public sealed class BranchDecodingStream(Stream inner, BranchFilter filter) : ReadOnlyStream
{
    private readonly Stream _inner = inner;
    private readonly byte[] _buffer = new byte[64 * 1024];
    // _buffer[_ready.._final) is decoded and not yet handed out; _buffer[_final.._filled) is read but not yet
    // scanned (less than an instruction, or all of it at the end of the stream).
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
                // A BrotliStream's complaint about damaged input (BrotliDecodingStream throws InvalidDataException itself).
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
        var scanned = BranchFilters.Apply(filter, _buffer.AsSpan(0, _filled), _bufferStart, encode: false);
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

/// <summary>
/// Brotli decoding over <see cref="BrotliDecoder"/> alone. <see cref="BrotliStream"/> would do, but its write path is
/// reachable through <see cref="Stream"/>'s virtual methods, so the compiler links Brotli's encoder (some 200 kB of
/// native code) into every executable that decodes with it: `belay`, which has no other use for Brotli, among them.
/// Damaged or cut input is an <see cref="InvalidDataException"/>, as gzip and zip readers throw; bytes after the end of
/// the Brotli data are not read.
/// </summary>
internal sealed class BrotliDecodingStream(Stream compressed, bool leaveOpen) : ReadOnlyStream
{
    private readonly byte[] _input = new byte[64 * 1024];
    private BrotliDecoder _decoder;
    private int _start;
    private int _end;
    private bool _inputEnded;
    private bool _finished;

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty || _finished)
        {
            return 0;
        }
        while (true)
        {
            var status = _decoder.Decompress(_input.AsSpan(_start, _end - _start), buffer, out var consumed, out var written);
            _start += consumed;
            switch (status)
            {
                case System.Buffers.OperationStatus.InvalidData:
                    throw new InvalidDataException("the Brotli data is damaged");
                case System.Buffers.OperationStatus.Done:
                    _finished = true;
                    return written;
                case System.Buffers.OperationStatus.DestinationTooSmall:
                    return written;
            }
            if (written > 0)
            {
                return written;
            }
            if (_inputEnded)
            {
                throw new InvalidDataException("the Brotli data ends before its last block");
            }
            if (_start > 0)
            {
                _input.AsSpan(_start, _end - _start).CopyTo(_input);
                _end -= _start;
                _start = 0;
            }
            var n = compressed.Read(_input, _end, _input.Length - _end);
            if (n == 0)
            {
                _inputEnded = true;
            }
            _end += n;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _decoder.Dispose();
            if (!leaveOpen)
            {
                compressed.Dispose();
            }
        }
        base.Dispose(disposing);
    }
}
