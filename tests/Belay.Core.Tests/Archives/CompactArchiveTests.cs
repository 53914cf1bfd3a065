using System.Buffers.Binary;
using System.IO.Compression;
using System.Security.Cryptography;
using Belay.Core.Archives;
using Belay.Core.Publishing;
using Belay.TestSupport;

namespace Belay.Core.Tests.Archives;

/// <summary>The compact form of the agent archive (docs/feed.md, "The compact archive") and its x86 filter.</summary>
public sealed class CompactArchiveTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    // ---- the x86 filter ----

    [Fact]
    public void ANearCallBecomesAbsoluteAndComesBack()
    {
        // At position 16: call rel32 = +0x100 (to 16 + 5 + 0x100); a far one (top byte 0x12) and a jmp backwards.
        var code = new byte[64];
        code[16] = 0xE8;
        BinaryPrimitives.WriteInt32LittleEndian(code.AsSpan(17), 0x100);
        code[30] = 0xE8;
        BinaryPrimitives.WriteInt32LittleEndian(code.AsSpan(31), 0x12345678);
        code[40] = 0xE9;
        BinaryPrimitives.WriteInt32LittleEndian(code.AsSpan(41), -20);
        var original = code.ToArray();

        X86BranchFilter.Encode(code);

        Assert.Equal(16 + 5 + 0x100, BinaryPrimitives.ReadInt32LittleEndian(code.AsSpan(17)));
        Assert.Equal(0x12345678, BinaryPrimitives.ReadInt32LittleEndian(code.AsSpan(31)));
        Assert.Equal(40 + 5 - 20, BinaryPrimitives.ReadInt32LittleEndian(code.AsSpan(41)));
        X86BranchFilter.Decode(code);
        Assert.Equal(original, code);
    }

    [Fact]
    public void TwoCallsToOneFunctionBecomeTheSameBytes()
    {
        // What the filter is for: calls from different places to one target look alike afterwards.
        var code = new byte[1000];
        foreach (var at in new[] { 100, 500 })
        {
            code[at] = 0xE8;
            BinaryPrimitives.WriteInt32LittleEndian(code.AsSpan(at + 1), 800 - (at + 5));
        }
        X86BranchFilter.Encode(code);
        Assert.Equal(code.AsSpan(100, 5).ToArray(), code.AsSpan(500, 5).ToArray());
    }

    [Fact]
    public void AnyBytesRoundTripAtAnyStartIncludingOverlappingOpcodes()
    {
        var random = new Random(1234);
        for (var round = 0; round < 200; round++)
        {
            // Dense in E8, E9, 00 and FF, so that overlapping and declined candidates are common.
            var data = new byte[random.Next(0, 300)];
            for (var i = 0; i < data.Length; i++)
            {
                data[i] = (random.Next(4)) switch { 0 => 0xE8, 1 => 0xE9, 2 => (byte)(random.Next(2) == 0 ? 0x00 : 0xFF), _ => (byte)random.Next(256) };
            }
            var start = random.NextInt64(0, 1L << 32);
            var copy = data.ToArray();
            X86BranchFilter.Encode(copy, start);
            X86BranchFilter.Decode(copy, start);
            Assert.Equal(data, copy);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4999)]
    [InlineData(70_000)]
    public void TheDecodingStreamMatchesTheWholeBufferDecodeWhateverTheReadSizes(int chunk)
    {
        var data = CodeLike(300_000, seed: chunk);
        var encoded = data.ToArray();
        X86BranchFilter.Encode(encoded);
        Assert.NotEqual(data, encoded);

        using var stream = new BranchDecodingStream(new TrickleStream(encoded, 7919), BranchFilter.X86);
        var back = new MemoryStream();
        var buffer = new byte[chunk];
        int n;
        while ((n = stream.Read(buffer)) > 0)
        {
            back.Write(buffer, 0, n);
        }
        Assert.Equal(data, back.ToArray());
    }

    [Fact]
    public void ABlAndAnAdrpBecomeAbsoluteAndComeBack()
    {
        var code = new byte[64];
        // At 16: BL +0x40 (16 words); at 32: ADRP x3, +2 pages; at 40: ADRP far away (+1 GB: left alone).
        BinaryPrimitives.WriteUInt32LittleEndian(code.AsSpan(16), 0x94000000u | 0x10u);
        BinaryPrimitives.WriteUInt32LittleEndian(code.AsSpan(32), Adrp(3, 2));
        BinaryPrimitives.WriteUInt32LittleEndian(code.AsSpan(40), Adrp(4, 0x40000));
        var original = code.ToArray();

        Arm64BranchFilter.Encode(code, start: 0x10000);

        Assert.Equal(0x94000000u | (0x10u + ((0x10000u + 16) >> 2)), BinaryPrimitives.ReadUInt32LittleEndian(code.AsSpan(16)));
        Assert.Equal(Adrp(3, 2 + ((0x10000 + 32) >> 12)), BinaryPrimitives.ReadUInt32LittleEndian(code.AsSpan(32)));
        Assert.Equal(original.AsSpan(40, 4).ToArray(), code.AsSpan(40, 4).ToArray());
        Arm64BranchFilter.Decode(code, start: 0x10000);
        Assert.Equal(original, code);
    }

    [Fact]
    public void AnyBytesRoundTripTheArm64FilterAtAnyAlignedStart()
    {
        var random = new Random(4321);
        for (var round = 0; round < 200; round++)
        {
            // Dense in BL and ADRP words (near and far), with stray bytes so lengths need not be multiples of 4.
            var data = new byte[random.Next(0, 400)];
            for (var i = 0; i + 4 <= data.Length; i += 4)
            {
                var word = (random.Next(3)) switch
                {
                    0 => 0x94000000u | (uint)random.Next(1 << 26),
                    1 => Adrp(random.Next(32), random.Next(-(1 << 20), 1 << 20)),
                    _ => (uint)random.Next() ^ ((uint)random.Next(2) << 31),
                };
                BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(i), word);
            }
            var start = random.NextInt64(0, 1L << 34) & ~3L;
            var copy = data.ToArray();
            Arm64BranchFilter.Encode(copy, start);
            Arm64BranchFilter.Decode(copy, start);
            Assert.Equal(data, copy);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4099)]
    [InlineData(70_000)]
    public void TheArm64DecodingStreamMatchesTheWholeBufferDecodeWhateverTheReadSizes(int chunk)
    {
        var random = new Random(chunk);
        var data = new byte[300_001];
        random.NextBytes(data);
        for (var i = 0; i + 4 <= data.Length; i += 4 * random.Next(1, 6))
        {
            BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(i), random.Next(2) == 0 ? 0x94000000u | (uint)random.Next(1 << 26) : Adrp(1, random.Next(-1000, 1000)));
        }
        var encoded = data.ToArray();
        Arm64BranchFilter.Encode(encoded);
        Assert.NotEqual(data, encoded);

        using var stream = new BranchDecodingStream(new TrickleStream(encoded, 5003), BranchFilter.Arm64);
        var back = new MemoryStream();
        var buffer = new byte[chunk];
        int n;
        while ((n = stream.Read(buffer)) > 0)
        {
            back.Write(buffer, 0, n);
        }
        Assert.Equal(data, back.ToArray());
    }

    /// <summary>ADRP Xd, pages: immlo (2 bits) at 29, immhi (19 bits) at 5.</summary>
    private static uint Adrp(int register, int pages)
    {
        var imm = (uint)pages & 0x1FFFFFu;
        return 0x90000000u | ((imm & 3u) << 29) | ((imm >> 2) << 5) | (uint)register;
    }

    // ---- the archive ----

    [Fact]
    public void ThePackagedCompactFormExtractsToTheSameFilesAsTheTarGzAndIsSmaller()
    {
        var input = Publish(CodeLike(400_000, seed: 7));
        var archive = _dir.Combine("out", "belay-agent-1.0.0-linux-x64.tar.gz");
        Directory.CreateDirectory(_dir.Combine("out"));
        var (files, compact) = ArchiveBuilder.CreateWithCompact(input, archive, "linux-x64", ArchiveBuilder.EntryTime(null), CompactArchive.Level.Fast);

        Assert.Equal(_dir.Combine("out", "belay-agent-1.0.0-linux-x64.tar.x86.br"), compact);
        Assert.True(new FileInfo(compact!).Length < new FileInfo(archive).Length,
            $"compact {new FileInfo(compact!).Length} bytes, .tar.gz {new FileInfo(archive).Length}");
        CompactArchive.CheckSameTar(archive, compact!);
        var fromGz = ArchiveExtractor.Extract(archive, _dir.Combine("gz"));
        var fromCompact = ArchiveExtractor.Extract(compact!, _dir.Combine("compact"));
        Assert.Equal(files, fromCompact);
        Assert.Equal(fromGz, fromCompact);
        foreach (var file in files)
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(input, file)), File.ReadAllBytes(_dir.Combine("compact", file)));
        }
        Assert.Equal((UnixFileMode)0b111_101_101, File.GetUnixFileMode(_dir.Combine("compact", "belay-agent")));
    }

    [Theory]
    [InlineData(".tar.gz", 24 * 1024 * 1024)]
    [InlineData(".tar.gz", 1000)]
    [InlineData(".tar.x86.br", 24 * 1024 * 1024)]
    [InlineData(".tar.x86.br", 1000)]
    public void BothFormsExtractTheSameWhetherTheSecondPassReplaysTheTarOrDecompressesItAgain(string form, int replay)
    {
        var input = Publish(CodeLike(300_000, seed: 11));
        var archive = _dir.Combine("belay-agent-1.0.0-linux-x64.tar.gz");
        var (files, compact) = ArchiveBuilder.CreateWithCompact(input, archive, "linux-x64", ArchiveBuilder.EntryTime(null), CompactArchive.Level.Fast);
        var destination = _dir.Combine("out");

        var extracted = ArchiveExtractor.Extract(form == ".tar.gz" ? archive : compact!, destination, ExtractionLimits.Default with { MaxReplayBytes = replay });

        Assert.Equal(files, extracted);
        foreach (var file in files)
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(input, file)), File.ReadAllBytes(Path.Combine(destination, file)));
        }
    }

    [Fact]
    public void Arm64GetsTheArm64FilterAndExtractsToTheSameFiles()
    {
        var input = Publish(CodeLike(50_000, seed: 3));
        var archive = _dir.Combine("belay-agent-1.0.0-linux-arm64.tar.gz");
        var (files, compact) = ArchiveBuilder.CreateWithCompact(input, archive, "linux-arm64", ArchiveBuilder.EntryTime(null), CompactArchive.Level.Fast);

        Assert.Equal(_dir.Combine("belay-agent-1.0.0-linux-arm64.tar.a64.br"), compact);
        CompactArchive.CheckSameTar(archive, compact!);
        // The filter was applied: Brotli alone does not give the tar back.
        using (var brotli = new BrotliStream(File.OpenRead(compact!), CompressionMode.Decompress))
        using (var gz = new GZipStream(File.OpenRead(archive), CompressionMode.Decompress))
        {
            Assert.NotEqual(ReadAll(gz), ReadAll(brotli));
        }
        Assert.Equal(files, ArchiveExtractor.Extract(compact!, _dir.Combine("out")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(input, "belay-agent")), File.ReadAllBytes(_dir.Combine("out", "belay-agent")));
    }

    [Fact]
    public void OtherUnixRidsGetAPlainTarBrThatBrotliAloneReads()
    {
        var input = Publish(CodeLike(50_000, seed: 3));
        var archive = _dir.Combine("belay-agent-1.0.0-linux-arm.tar.gz");
        var (_, compact) = ArchiveBuilder.CreateWithCompact(input, archive, "linux-arm", ArchiveBuilder.EntryTime(null), CompactArchive.Level.Fast);

        Assert.Equal(_dir.Combine("belay-agent-1.0.0-linux-arm.tar.br"), compact);
        using var brotli = new BrotliStream(File.OpenRead(compact!), CompressionMode.Decompress);
        using var gz = new GZipStream(File.OpenRead(archive), CompressionMode.Decompress);
        Assert.Equal(ReadAll(gz), ReadAll(brotli));
    }

    [Fact]
    public void WindowsHasNoCompactForm()
    {
        var input = Publish(CodeLike(1000, seed: 1));
        var (_, compact) = ArchiveBuilder.CreateWithCompact(input, _dir.Combine("belay-agent-1.0.0-win-x64.zip"), "win-x64", ArchiveBuilder.EntryTime(null), CompactArchive.Level.Fast);
        Assert.Null(compact);
        Assert.Null(CompactArchive.ExtensionFor("win-arm64"));
        Assert.Equal(".tar.x86.br", CompactArchive.ExtensionFor("linux-musl-x64"));
        Assert.Equal(".tar.x86.br", CompactArchive.ExtensionFor("illumos-x64"));
        Assert.Equal(".tar.a64.br", CompactArchive.ExtensionFor("osx-arm64"));
        Assert.Equal(".tar.a64.br", CompactArchive.ExtensionFor("linux-musl-arm64"));
        Assert.Equal(".tar.br", CompactArchive.ExtensionFor("linux-arm"));
    }

    [Fact]
    public void ACompactFormOfOtherContentIsCaughtBeforePublishing()
    {
        var input = Publish(CodeLike(20_000, seed: 5));
        var archive = _dir.Combine("a", "belay-agent-1.0.0-linux-x64.tar.gz");
        Directory.CreateDirectory(_dir.Combine("a"));
        ArchiveBuilder.Create(input, archive, "linux-x64", ArchiveBuilder.EntryTime(null));
        File.WriteAllBytes(Path.Combine(input, "belay-agent"), CodeLike(20_000, seed: 6));
        var other = _dir.Combine("b", "belay-agent-1.0.0-linux-x64.tar.gz");
        Directory.CreateDirectory(_dir.Combine("b"));
        var (_, compact) = ArchiveBuilder.CreateWithCompact(input, other, "linux-x64", ArchiveBuilder.EntryTime(null), CompactArchive.Level.Fast);

        var e = Assert.Throws<BelayException>(() => CompactArchive.CheckSameTar(archive, compact!));
        Assert.Contains("does not hold the same tar as", e.Message, StringComparison.Ordinal);
        Assert.Contains("they differ at byte", e.Message, StringComparison.Ordinal);
        Assert.Contains("belay-release package", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("garbage")]
    public void ADamagedCompactArchiveIsRefusedAsATrustFailureAndLeavesNothing(string damage)
    {
        var input = Publish(CodeLike(100_000, seed: 9));
        var archive = _dir.Combine("belay-agent-1.0.0-linux-x64.tar.gz");
        var (_, compact) = ArchiveBuilder.CreateWithCompact(input, archive, "linux-x64", ArchiveBuilder.EntryTime(null), CompactArchive.Level.Fast);
        var bytes = File.ReadAllBytes(compact!);
        bytes = damage switch
        {
            "truncated" => bytes[..(bytes.Length / 2)],
            _ => RandomNumberGenerator.GetBytes(bytes.Length),
        };
        File.WriteAllBytes(compact!, bytes);
        var destination = _dir.Combine("dest", "1.0.0");
        Directory.CreateDirectory(_dir.Combine("dest"));

        var e = Assert.Throws<BelayException>(() => ArchiveExtractor.Extract(compact!, destination));

        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir.Combine("dest")));
    }

    [Fact]
    public void TheRatioCapCountsAgainstTheCompactFilesOwnSize()
    {
        // A bomb: 20 MB of zeros in a tiny compact archive.
        var input = _dir.Combine("bomb");
        Directory.CreateDirectory(input);
        File.WriteAllBytes(Path.Combine(input, "belay-agent"), new byte[20_000_000]);
        var (_, compact) = ArchiveBuilder.CreateWithCompact(input, _dir.Combine("belay-agent-1.0.0-linux-x64.tar.gz"), "linux-x64", ArchiveBuilder.EntryTime(null),
            CompactArchive.Level.Fast);
        Directory.CreateDirectory(_dir.Combine("dest"));

        var e = Assert.Throws<BelayException>(() => ArchiveExtractor.Extract(compact!, _dir.Combine("dest", "x")));

        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Contains("ratio", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    private string Publish(byte[] agent)
    {
        var input = _dir.Combine("publish-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(input, "lib"));
        File.WriteAllBytes(Path.Combine(input, "belay-agent"), agent);
        File.SetUnixFileMode(Path.Combine(input, "belay-agent"), (UnixFileMode)0b111_101_101);
        File.WriteAllText(Path.Combine(input, "lib", "notes.txt"), "notes");
        return input;
    }

    /// <summary>Bytes with the statistics of x86 code as far as the filter cares: many near calls to a few targets.</summary>
    private static byte[] CodeLike(int length, int seed)
    {
        var random = new Random(seed);
        var data = new byte[length];
        random.NextBytes(data);
        var targets = Enumerable.Range(0, 50).Select(_ => random.Next(length)).ToArray();
        for (var at = 0; at + 5 <= length; at += random.Next(5, 40))
        {
            data[at] = 0xE8;
            BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(at + 1), targets[random.Next(targets.Length)] - (at + 5));
        }
        return data;
    }

    private static byte[] ReadAll(Stream s)
    {
        var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(100_000)]
    public void TheBrotliDecoderTakesItsInputInAnyPiecesAndStopsAtTheEndOfItsData(int most)
    {
        var plain = CodeLike(300_000, seed: 11);
        var encoded = new byte[BrotliEncoder.GetMaxCompressedLength(plain.Length) + 16];
        Assert.True(BrotliEncoder.TryCompress(plain, encoded, out var written, 5, 22));
        // Bytes after the end of the Brotli data are not read as more of it.
        encoded.AsSpan(written, 16).Fill(0xAB);
        using var stream = CompactArchive.OpenTar(new TrickleStream(encoded[..(written + 16)], most), "x.tar.br");
        Assert.Equal(plain, ReadAll(stream));

        using var cut = CompactArchive.OpenTar(new TrickleStream(encoded[..(written - 10)], most), "x.tar.br");
        Assert.Throws<InvalidDataException>(() => ReadAll(cut));
    }

    /// <summary>Hands out at most <c>most</c> bytes per read, as a decompressor may.</summary>
    private sealed class TrickleStream(byte[] data, int most) : MemoryStream(data)
    {
        public override int Read(Span<byte> buffer) => base.Read(buffer[..Math.Min(buffer.Length, most)]);

        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, most));
    }
}
