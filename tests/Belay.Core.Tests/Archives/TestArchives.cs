using System.Formats.Tar;
using System.IO.Compression;
using Belay.Core.IO;

namespace Belay.Core.Tests.Archives;

/// <summary>Builds hostile archives for the extractor tests.</summary>
internal static class TestArchives
{
    public const int Octal755 = 0b111_101_101;
    public const int Octal644 = 0b110_100_100;

    /// <summary>An entry of the given tar format (V7 spells a regular file differently).</summary>
    public static TarEntry Entry(TarEntryFormat format, TarEntryType type, string name) => format switch
    {
        TarEntryFormat.V7 => new V7TarEntry(type == TarEntryType.RegularFile ? TarEntryType.V7RegularFile : type, name),
        TarEntryFormat.Ustar => new UstarTarEntry(type, name),
        TarEntryFormat.Pax => new PaxTarEntry(type, name),
        TarEntryFormat.Gnu => new GnuTarEntry(type, name),
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    public static TarEntry TarFile(TarEntryFormat format, string name, byte[]? content = null, int mode = Octal644)
    {
        var entry = Entry(format, TarEntryType.RegularFile, name);
        entry.Mode = (UnixFileMode)mode;
        entry.DataStream = new MemoryStream(content ?? "data"u8.ToArray());
        return entry;
    }

    public static TarEntry TarDirectory(TarEntryFormat format, string name, int mode = Octal755)
    {
        var entry = Entry(format, TarEntryType.Directory, name);
        entry.Mode = (UnixFileMode)mode;
        return entry;
    }

    public static void WriteTarGz(string path, TarEntryFormat format, IEnumerable<TarEntry> entries)
    {
        using var file = File.Create(path);
        using var gzip = new GZipStream(file, CompressionLevel.Fastest);
        using var tar = new TarWriter(gzip, format);
        foreach (var entry in entries)
        {
            tar.WriteEntry(entry);
        }
    }

    public static void WriteZip(string path, Action<ZipArchive> fill)
    {
        using var file = File.Create(path);
        using var zip = new ZipArchive(file, ZipArchiveMode.Create);
        fill(zip);
    }

    public static void AddZipEntry(ZipArchive zip, string name, byte[] content, int unixMode = 0x8000 | Octal644, CompressionLevel level = CompressionLevel.Optimal)
    {
        var entry = zip.CreateEntry(name, level);
        entry.ExternalAttributes = unixMode << 16;
        using var stream = entry.Open();
        stream.Write(content);
    }

    /// <summary>
    /// A valid .tar.gz whose one entry holds <paramref name="size"/> zero bytes, built without
    /// compressing them all: gzip allows concatenated members, so one compressed block of zeros
    /// is repeated. The archive is about size / 1000 bytes.
    /// </summary>
    public static void WriteZeroBomb(string path, string name, long size)
    {
        const int Chunk = 16 << 20;
        if (size % Chunk != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(size), "a multiple of 16 MiB");
        }
        // The tar header, captured by letting TarWriter write the entry into a sink that keeps
        // only its first block.
        var header = new HeadStream(512);
        using (var tar = new TarWriter(header, TarEntryFormat.Ustar, leaveOpen: true))
        {
            var entry = new UstarTarEntry(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)Octal644, DataStream = new ZeroStream(size) };
            tar.WriteEntry(entry);
        }
        var zeros = Gzip(new byte[Chunk]);
        using var file = File.Create(path);
        file.Write(Gzip(header.Head));
        for (long i = 0; i < size / Chunk; i++)
        {
            file.Write(zeros);
        }
        file.Write(Gzip(new byte[1024])); // the end-of-archive blocks
    }

    private static byte[] Gzip(byte[] data)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            gzip.Write(data);
        }
        return buffer.ToArray();
    }

    /// <summary>Overwrites the uncompressed size of every entry in a zip's local and central headers.</summary>
    public static void PatchZipUncompressedSizes(string path, uint size)
    {
        var bytes = File.ReadAllBytes(path);
        for (var i = 0; i + 30 < bytes.Length; i++)
        {
            if (bytes[i] == 0x50 && bytes[i + 1] == 0x4B && bytes[i + 2] == 3 && bytes[i + 3] == 4)
            {
                BitConverter.TryWriteBytes(bytes.AsSpan(i + 22, 4), size);
            }
            else if (bytes[i] == 0x50 && bytes[i + 1] == 0x4B && bytes[i + 2] == 1 && bytes[i + 3] == 2)
            {
                BitConverter.TryWriteBytes(bytes.AsSpan(i + 24, 4), size);
            }
        }
        File.WriteAllBytes(path, bytes);
    }

    /// <summary>A readable, seekable stream of zeros that allocates nothing.</summary>
    private sealed class ZeroStream(long length) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get; set; }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - Position);
            Array.Clear(buffer, offset, n);
            Position += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => Position + offset,
            _ => length + offset,
        };

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>A write-only sink that keeps the first bytes written and drops the rest.</summary>
    private sealed class HeadStream(int keep) : WriteOnlyStream
    {
        private readonly MemoryStream _head = new();

        public byte[] Head => _head.ToArray();

        public override void Write(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, keep - _head.Length);
            if (n > 0)
            {
                _head.Write(buffer, offset, n);
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _head.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
