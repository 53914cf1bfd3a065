using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using Belay.Core.Archives;
using Belay.Core.Publishing;
using Belay.TestSupport;
using static Belay.Core.Tests.Archives.TestArchives;

namespace Belay.Core.Tests.Archives;

public sealed class ArchiveExtractorTests : IDisposable
{
    private const UnixFileMode Mode755 = (UnixFileMode)Octal755;
    private const UnixFileMode Mode644 = (UnixFileMode)Octal644;

    private readonly TempDir _dir = new();
    private int _archives;

    public ArchiveExtractorTests()
    {
        Directory.CreateDirectory(_dir.Combine("archives"));
        Directory.CreateDirectory(OutParent);
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>The destination's parent holds nothing else, so leftovers are easy to see.</summary>
    private string OutParent => _dir.Combine("out");

    private string Destination => Path.Combine(OutParent, "agent");

    private string NewArchivePath(string extension) => _dir.Combine("archives", $"a{++_archives}{extension}");

    private string TarGz(TarEntryFormat format, params TarEntry[] entries)
    {
        var path = NewArchivePath(".tar.gz");
        WriteTarGz(path, format, entries);
        return path;
    }

    private string Zip(Action<ZipArchive> fill)
    {
        var path = NewArchivePath(".zip");
        WriteZip(path, fill);
        return path;
    }

    private BelayException AssertRefused(string archive, string rule, ExtractionLimits? limits = null)
    {
        var e = Assert.Throws<BelayException>(() => ArchiveExtractor.Extract(archive, Destination, limits));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Contains(rule, e.Message, StringComparison.Ordinal);
        AssertNothingLeft();
        return e;
    }

    private void AssertNothingLeft()
    {
        Assert.False(Path.Exists(Destination), "the destination must not exist after a refusal");
        Assert.Empty(Directory.EnumerateFileSystemEntries(OutParent));
    }

    private static UnixFileMode ModeOf(string path) => File.GetUnixFileMode(path);

    // ---- names ----

    public static TheoryData<TarEntryFormat, string, string> BadNames()
    {
        var data = new TheoryData<TarEntryFormat, string, string>();
        foreach (var format in new[] { TarEntryFormat.V7, TarEntryFormat.Ustar, TarEntryFormat.Pax, TarEntryFormat.Gnu })
        {
            data.Add(format, "../x", "'..' segment");
            data.Add(format, "a/../../x", "'..' segment");
            data.Add(format, "a/..", "'..' segment");
            data.Add(format, "/etc/x", "absolute path");
            data.Add(format, @"C:\x", "drive letter");
            data.Add(format, "c:x", "drive letter");
            data.Add(format, @"a\..\b", "backslash");
            data.Add(format, @"\\server\share\x", "UNC name");
            data.Add(format, "//server/share/x", "UNC name");
            data.Add(format, "a\u0001b", "control character");
            data.Add(format, "a\u007fb", "control character");
            data.Add(format, "a//b", "empty segment");
            data.Add(format, "dir/a:stream", "':'");
            data.Add(format, "bin/tool.", "ending in a dot or a space");
            data.Add(format, "bin/NUL.txt", "Windows device name");
            data.Add(format, "com1", "Windows device name");
        }
        // Only pax can carry a NUL inside a name.
        data.Add(TarEntryFormat.Pax, "a\0b", "control character");
        data.Add(TarEntryFormat.Pax, "ok/\0/../../etc/x", "control character");
        return data;
    }

    [Theory]
    [MemberData(nameof(BadNames))]
    public void ATarEntryWithABadNameIsRefusedNamingTheRule(TarEntryFormat format, string name, string rule)
    {
        var archive = TarGz(format, TarFile(format, "fine.txt"), TarFile(format, name));
        var e = AssertRefused(archive, rule);
        Assert.Contains("entry '", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\0', e.Message);
        Assert.DoesNotContain('\u0001', e.Message);
    }

    [Theory]
    [InlineData("../evil.txt", "'..' segment")]
    [InlineData("a/../../evil.txt", "'..' segment")]
    [InlineData("/etc/cron.d/evil", "absolute path")]
    [InlineData("C:/Windows/evil.dll", "drive letter")]
    [InlineData(@"C:\Windows\evil.dll", "drive letter")]
    [InlineData(@"..\evil.txt", "backslash")]
    [InlineData(@"\\server\share\evil", "UNC name")]
    public void AZipEntryWithABadNameIsRefusedNamingTheRule(string name, string rule)
    {
        var archive = Zip(z =>
        {
            AddZipEntry(z, "fine.txt", "fine"u8.ToArray());
            AddZipEntry(z, name, "evil"u8.ToArray());
        });
        var e = AssertRefused(archive, rule);
        Assert.Contains(name, e.Message, StringComparison.Ordinal);
    }

    // ---- entry types ----

    public static TheoryData<TarEntryFormat, TarEntryType, string> BadTypes()
    {
        var data = new TheoryData<TarEntryFormat, TarEntryType, string>();
        foreach (var format in new[] { TarEntryFormat.V7, TarEntryFormat.Ustar, TarEntryFormat.Pax, TarEntryFormat.Gnu })
        {
            data.Add(format, TarEntryType.SymbolicLink, "symbolic link");
            data.Add(format, TarEntryType.HardLink, "hard link");
        }
        foreach (var format in new[] { TarEntryFormat.Ustar, TarEntryFormat.Pax, TarEntryFormat.Gnu })
        {
            data.Add(format, TarEntryType.CharacterDevice, "character device");
            data.Add(format, TarEntryType.BlockDevice, "block device");
            data.Add(format, TarEntryType.Fifo, "FIFO");
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(BadTypes))]
    public void ATarEntryThatIsNotARegularFileOrDirectoryIsRefused(TarEntryFormat format, TarEntryType type, string rule)
    {
        var entry = Entry(format, type, "bin/special");
        if (type is TarEntryType.SymbolicLink or TarEntryType.HardLink)
        {
            entry.LinkName = type == TarEntryType.SymbolicLink ? "/etc/passwd" : "bin/tool";
        }
        var archive = TarGz(format, TarDirectory(format, "bin/"), TarFile(format, "bin/tool"), entry);
        var e = AssertRefused(archive, rule);
        Assert.Contains("'bin/special'", e.Message, StringComparison.Ordinal);
        Assert.Contains("only regular files and directories", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ASymbolicLinkFollowedByAFileThroughItIsRefusedAtTheLink()
    {
        // The classic escape: a link to / and then a file written "through" it.
        var link = Entry(TarEntryFormat.Pax, TarEntryType.SymbolicLink, "escape");
        link.LinkName = "/";
        var archive = TarGz(TarEntryFormat.Pax, link, TarFile(TarEntryFormat.Pax, "escape/etc/evil"));
        AssertRefused(archive, "symbolic link");
    }

    [Fact]
    public void AGnuSparseEntryIsRefused()
    {
        // TarWriter does not write sparse entries; the GNU type flag 'S' is patched into a
        // regular ustar-compatible GNU header (and the header checksum fixed up).
        using var buffer = new MemoryStream();
        using (var tar = new TarWriter(buffer, TarEntryFormat.Gnu, leaveOpen: true))
        {
            tar.WriteEntry(TarFile(TarEntryFormat.Gnu, "sparse"));
        }
        var bytes = buffer.ToArray();
        bytes[156] = (byte)'S';
        "        "u8.CopyTo(bytes.AsSpan(148, 8));
        var sum = bytes.AsSpan(0, 512).ToArray().Sum(b => b);
        System.Text.Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(bytes, 148);
        var archive = NewArchivePath(".tar.gz");
        using (var file = File.Create(archive))
        using (var gzip = new GZipStream(file, CompressionLevel.Fastest))
        {
            gzip.Write(bytes);
        }
        // .NET's TarReader refuses sparse entries itself; the extractor reports it as a trust failure, in its own
        // words (the reader's message is a resource key in the NativeAOT build).
        AssertRefused(archive, "uses a feature Belay does not read (something this reader does not support)");
    }

    [Theory]
    [InlineData(0xA000, "symbolic link")]
    [InlineData(0x2000, "character device")]
    [InlineData(0x6000, "block device")]
    [InlineData(0x1000, "FIFO")]
    [InlineData(0xC000, "socket")]
    public void AZipEntryWhoseUnixModeIsNotAFileOrDirectoryIsRefused(int type, string rule)
    {
        var archive = Zip(z =>
        {
            AddZipEntry(z, "fine.txt", "fine"u8.ToArray());
            AddZipEntry(z, "special", "/etc/passwd"u8.ToArray(), type | 0b111_111_111);
        });
        var e = AssertRefused(archive, rule);
        Assert.Contains("'special'", e.Message, StringComparison.Ordinal);
    }

    // ---- duplicates and clashes ----

    [Theory]
    [InlineData(TarEntryFormat.V7)]
    [InlineData(TarEntryFormat.Ustar)]
    [InlineData(TarEntryFormat.Pax)]
    [InlineData(TarEntryFormat.Gnu)]
    public void ADuplicateTarEntryIsRefused(TarEntryFormat format)
    {
        var archive = TarGz(format, TarFile(format, "bin/tool", "good"u8.ToArray()), TarFile(format, "bin/tool", "evil"u8.ToArray()));
        var e = AssertRefused(archive, "duplicate");
        Assert.Contains("'bin/tool'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("bin/tool", "./bin/tool", "duplicate")]
    [InlineData("bin/", "bin/", "duplicate")]
    [InlineData("bin/Tool", "bin/tool", "differs only in case")]
    [InlineData("Bin/a", "bin/b", "differs only in case")]
    [InlineData("bin/tool", "bin/tool/x", "which is a file")]
    [InlineData("bin/tool/x", "bin/tool", "earlier entries lie inside it")]
    public void NamesThatWouldLandOnTheSamePathAreRefused(string first, string second, string rule)
    {
        TarEntry Make(string name) => name.EndsWith('/') ? TarDirectory(TarEntryFormat.Pax, name) : TarFile(TarEntryFormat.Pax, name);
        var archive = TarGz(TarEntryFormat.Pax, Make(first), Make(second));
        AssertRefused(archive, rule);
    }

    [Fact]
    public void ADuplicateZipEntryIsRefused()
    {
        var archive = Zip(z =>
        {
            AddZipEntry(z, "belay-agent.exe", "good"u8.ToArray());
            AddZipEntry(z, "belay-agent.exe", "evil"u8.ToArray());
        });
        AssertRefused(archive, "duplicate");
    }

    // ---- modes and owners ----

    [Theory]
    [InlineData(TarEntryFormat.V7)]
    [InlineData(TarEntryFormat.Ustar)]
    [InlineData(TarEntryFormat.Pax)]
    [InlineData(TarEntryFormat.Gnu)]
    public void SetuidSetgidStickyAndGroupOrOtherWriteBitsAreDroppedAndOwnersIgnored(TarEntryFormat format)
    {
        TarEntry Owned(TarEntry entry)
        {
            if (entry is PosixTarEntry posix)
            {
                posix.UserName = "root";
                posix.GroupName = "wheel";
            }
            entry.Uid = 4242;
            entry.Gid = 4343;
            return entry;
        }
        var archive = TarGz(format,
            Owned(TarDirectory(format, "tmp/", 0b001_111_111_111)),              // 01777
            Owned(TarFile(format, "bin/su", mode: 0b100_111_101_101)),           // 04755
            Owned(TarFile(format, "bin/sg", mode: 0b010_111_101_101)),           // 02755
            Owned(TarFile(format, "bin/all", mode: 0b111_111_111_111)),          // 07777
            Owned(TarFile(format, "etc/shared.conf", mode: 0b110_110_110)),      // 0666
            Owned(TarFile(format, "etc/secret", mode: 0b110_000_000)),           // 0600
            Owned(TarFile(format, "bin/other-x", mode: 0b110_000_001)));         // 0601

        var files = ArchiveExtractor.Extract(archive, Destination);

        Assert.Equal(["bin/su", "bin/sg", "bin/all", "etc/shared.conf", "etc/secret", "bin/other-x"], files);
        Assert.Equal(Mode755, ModeOf(Path.Combine(Destination, "tmp")));
        Assert.Equal(Mode755, ModeOf(Path.Combine(Destination, "bin", "su")));
        Assert.Equal(Mode755, ModeOf(Path.Combine(Destination, "bin", "sg")));
        Assert.Equal(Mode755, ModeOf(Path.Combine(Destination, "bin", "all")));
        Assert.Equal(Mode644, ModeOf(Path.Combine(Destination, "etc", "shared.conf")));
        Assert.Equal(Mode644, ModeOf(Path.Combine(Destination, "etc", "secret")));
        Assert.Equal(Mode755, ModeOf(Path.Combine(Destination, "bin", "other-x")));
        Assert.Equal(Mode755, ModeOf(Destination));
        Assert.Equal(Mode755, ModeOf(Path.Combine(Destination, "bin")));
        // Not chowned: files belong to whoever extracted them, not to the 4242:4343 the archive names.
        var mine = OwnerOf(archive);
        Assert.NotEqual("4242:4343", mine);
        Assert.Equal(mine, OwnerOf(Path.Combine(Destination, "bin", "su")));
        Assert.Equal(mine, OwnerOf(Path.Combine(Destination, "tmp")));
    }

    private static string OwnerOf(string path)
    {
        using var process = Process.Start(new ProcessStartInfo("stat", ["-c", "%u:%g", path]) { RedirectStandardOutput = true })!;
        var owner = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        return owner;
    }

    [Fact]
    public void ZipModesFollowTheSameRules()
    {
        var archive = Zip(z =>
        {
            AddZipEntry(z, "bin/belay-agent", "agent"u8.ToArray(), 0x8000 | 0b100_111_111_111);
            AddZipEntry(z, "etc/conf", "conf"u8.ToArray(), 0x8000 | 0b110_110_110);
            AddZipEntry(z, "windows-made.txt", "no unix mode"u8.ToArray(), 0);
        });
        var files = ArchiveExtractor.Extract(archive, Destination);
        Assert.Equal(["bin/belay-agent", "etc/conf", "windows-made.txt"], files);
        Assert.Equal(Mode755, ModeOf(Path.Combine(Destination, "bin", "belay-agent")));
        Assert.Equal(Mode644, ModeOf(Path.Combine(Destination, "etc", "conf")));
        Assert.Equal(Mode644, ModeOf(Path.Combine(Destination, "windows-made.txt")));
        Assert.Equal(Mode755, ModeOf(Path.Combine(Destination, "bin")));
    }

    // ---- caps ----

    [Fact]
    public void AnArchiveOfTwentyThousandEntriesIsRefusedAtTheEntryCap()
    {
        var archive = TarGz(TarEntryFormat.Ustar, [.. Enumerable.Range(0, 20_000).Select(i => TarDirectory(TarEntryFormat.Ustar, $"d{i:D5}/"))]);
        var e = AssertRefused(archive, "entry cap");
        Assert.Contains("10000", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AZipWithTooManyEntriesIsRefusedBeforeAnythingIsWritten()
    {
        var archive = Zip(z =>
        {
            for (var i = 0; i < 5; i++)
            {
                AddZipEntry(z, $"f{i}", [(byte)i]);
            }
        });
        AssertRefused(archive, "entry cap", new ExtractionLimits(MaxEntries: 4));
    }

    [Fact]
    public void AGigabyteOfZerosTripsTheRatioCapEarly()
    {
        var archive = NewArchivePath(".tar.gz");
        WriteZeroBomb(archive, "zeros.bin", 1L << 30);
        var archiveSize = new FileInfo(archive).Length;
        Assert.True(archiveSize < 2 << 20, $"the bomb should be about 1 MB, is {archiveSize}");

        var clock = Stopwatch.StartNew();
        var e = AssertRefused(archive, "compression ratio cap");
        Assert.Contains("'zeros.bin'", e.Message, StringComparison.Ordinal);
        // Stopped near 200 x 1 MB, long before the 1 GiB the header claims.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
    }

    [Fact]
    public void AZipBombTripsTheRatioCap()
    {
        var archive = Zip(z => AddZipEntry(z, "zeros.bin", new byte[16 << 20], level: CompressionLevel.SmallestSize));
        AssertRefused(archive, "compression ratio cap");
    }

    [Fact]
    public void AnEntryOverThePerEntryCapIsRefused()
    {
        var archive = TarGz(TarEntryFormat.Pax, TarFile(TarEntryFormat.Pax, "small", RandomNumberGenerator.GetBytes(1000)), TarFile(TarEntryFormat.Pax, "big", RandomNumberGenerator.GetBytes(5000)));
        var e = AssertRefused(archive, "per-entry size cap", new ExtractionLimits(MaxEntryBytes: 4096));
        Assert.Contains("'big'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FilesOverTheTotalCapAreRefused()
    {
        var archive = TarGz(TarEntryFormat.Pax, [.. Enumerable.Range(0, 4).Select(i => TarFile(TarEntryFormat.Pax, $"f{i}", RandomNumberGenerator.GetBytes(3000)))]);
        var e = AssertRefused(archive, "total size cap", new ExtractionLimits(MaxTotalBytes: 10_000));
        Assert.Contains("'f3'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AZipEntryThatInflatesPastTheSizeItClaimsIsRefused()
    {
        var archive = Zip(z => AddZipEntry(z, "liar.bin", new byte[1 << 20]));
        PatchZipUncompressedSizes(archive, 100);
        var e = AssertRefused(archive, "CRC-32");
        Assert.Contains("'liar.bin'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AZipEntryThatInflatesToLessThanItClaimsIsRefused()
    {
        var archive = Zip(z => AddZipEntry(z, "short.bin", RandomNumberGenerator.GetBytes(1000)));
        PatchZipUncompressedSizes(archive, 5000);
        AssertRefused(archive, "holds 1000 bytes, not the 5000 its header declares");
    }

    // ---- damaged archives and bad destinations ----

    [Fact]
    public void ATruncatedTarGzIsRefusedAsDamaged()
    {
        var archive = TarGz(TarEntryFormat.Pax, TarFile(TarEntryFormat.Pax, "a", RandomNumberGenerator.GetBytes(100_000)));
        var bytes = File.ReadAllBytes(archive);
        File.WriteAllBytes(archive, bytes[..(bytes.Length / 2)]);
        AssertRefused(archive, "damaged");
    }

    [Theory]
    [InlineData(".tar.gz")]
    [InlineData(".zip")]
    public void GarbageIsRefusedAsDamaged(string extension)
    {
        var archive = NewArchivePath(extension);
        File.WriteAllBytes(archive, RandomNumberGenerator.GetBytes(4096));
        AssertRefused(archive, "damaged");
    }

    [Fact]
    public void AFailureWhileWritingRemovesThePartialTree()
    {
        // Every rule passes, but the file system refuses a 300-byte name part way through.
        var archive = TarGz(TarEntryFormat.Pax,
            TarFile(TarEntryFormat.Pax, "bin/belay-agent", RandomNumberGenerator.GetBytes(10_000), Octal755),
            TarFile(TarEntryFormat.Pax, "lib/" + new string('x', 300)));
        var e = Assert.Throws<BelayException>(() => ArchiveExtractor.Extract(archive, Destination));
        Assert.Equal(ExitCodes.Error, e.ExitCode);
        Assert.Contains("cannot extract", e.Message, StringComparison.Ordinal);
        AssertNothingLeft();
    }

    [Fact]
    public void AnExistingDestinationIsNeitherReplacedNorEntered()
    {
        var archive = TarGz(TarEntryFormat.Ustar, TarFile(TarEntryFormat.Ustar, "a"));
        Directory.CreateDirectory(Destination);
        File.WriteAllText(Path.Combine(Destination, "keep"), "keep");
        var e = Assert.Throws<BelayException>(() => ArchiveExtractor.Extract(archive, Destination));
        Assert.Equal(ExitCodes.Error, e.ExitCode);
        Assert.Contains("already exists", e.Message, StringComparison.Ordinal);
        Assert.Equal(["keep"], Directory.EnumerateFileSystemEntries(Destination).Select(Path.GetFileName));
        Assert.Equal([Destination], Directory.EnumerateFileSystemEntries(OutParent));
    }

    [Fact]
    public void ADanglingSymbolicLinkAsDestinationIsRefused()
    {
        var archive = TarGz(TarEntryFormat.Ustar, TarFile(TarEntryFormat.Ustar, "a"));
        var target = _dir.Combine("elsewhere");
        File.CreateSymbolicLink(Destination, target);
        var e = Assert.Throws<BelayException>(() => ArchiveExtractor.Extract(archive, Destination));
        Assert.Contains("already exists", e.Message, StringComparison.Ordinal);
        Assert.False(Path.Exists(target));
    }

    [Fact]
    public void AnUnknownExtensionOrAMissingParentIsAnError()
    {
        var archive = TarGz(TarEntryFormat.Ustar, TarFile(TarEntryFormat.Ustar, "a"));
        var other = _dir.Combine("archives", "a.rar");
        File.Copy(archive, other);
        Assert.Equal(ExitCodes.Error, Assert.Throws<BelayException>(() => ArchiveExtractor.Extract(other, Destination)).ExitCode);
        var e = Assert.Throws<BelayException>(() => ArchiveExtractor.Extract(archive, _dir.Combine("missing", "agent")));
        Assert.Contains("does not exist", e.Message, StringComparison.Ordinal);
        AssertNothingLeft();
    }

    // ---- good archives ----

    [Fact]
    public void AnArchiveFromArchiveBuilderRoundTripsWithItsModes()
    {
        var input = _dir.Combine("publish");
        Directory.CreateDirectory(Path.Combine(input, "lib", "native"));
        File.WriteAllBytes(Path.Combine(input, "belay-agent"), RandomNumberGenerator.GetBytes(200_000));
        File.SetUnixFileMode(Path.Combine(input, "belay-agent"), Mode755);
        File.WriteAllText(Path.Combine(input, "lib", "native", "libhelper.so"), "elf");
        File.SetUnixFileMode(Path.Combine(input, "lib", "native", "libhelper.so"), Mode755);
        File.WriteAllText(Path.Combine(input, "LICENSE.txt"), "license");
        var archive = NewArchivePath(".tar.gz");
        var packed = ArchiveBuilder.Create(input, archive, "linux-x64", ArchiveBuilder.EntryTime(null));

        var files = ArchiveExtractor.Extract(archive, Destination);

        Assert.Equal(packed, files);
        foreach (var file in files)
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(input, file)), File.ReadAllBytes(Path.Combine(Destination, file)));
        }
        Assert.Equal(Mode755, ModeOf(Path.Combine(Destination, "belay-agent")));
        Assert.Equal(Mode755, ModeOf(Path.Combine(Destination, "lib", "native", "libhelper.so")));
        Assert.Equal(Mode644, ModeOf(Path.Combine(Destination, "LICENSE.txt")));
        Assert.Equal(Mode755, ModeOf(Destination));
        Assert.Equal(Mode755, ModeOf(Path.Combine(Destination, "lib", "native")));
        // Nothing but the destination beside it.
        Assert.Equal([Destination], Directory.EnumerateFileSystemEntries(OutParent));
    }

    [Fact]
    public void AZipFromArchiveBuilderRoundTrips()
    {
        var input = _dir.Combine("publish");
        Directory.CreateDirectory(Path.Combine(input, "runtimes"));
        File.WriteAllBytes(Path.Combine(input, "belay-agent.exe"), RandomNumberGenerator.GetBytes(50_000));
        File.WriteAllText(Path.Combine(input, "runtimes", "readme.txt"), "hello");
        var archive = NewArchivePath(".zip");
        var packed = ArchiveBuilder.Create(input, archive, "win-x64", ArchiveBuilder.EntryTime(null));

        var files = ArchiveExtractor.Extract(archive, Destination);

        Assert.Equal(packed, files);
        Assert.Equal(File.ReadAllBytes(Path.Combine(input, "belay-agent.exe")), File.ReadAllBytes(Path.Combine(Destination, "belay-agent.exe")));
        Assert.Equal("hello", File.ReadAllText(Path.Combine(Destination, "runtimes", "readme.txt")));
    }

    [Fact]
    public void DotSlashNamesAndGlobalPaxHeadersAsTarWritesThemAreAccepted()
    {
        // What `tar -C dir -czf x.tar.gz .` and `git archive` produce.
        var global = new PaxGlobalExtendedAttributesTarEntry(new Dictionary<string, string> { ["comment"] = "0123abcd" });
        var longName = "lib/" + new string('n', 150) + ".so";
        var archive = TarGz(TarEntryFormat.Pax,
            global,
            TarDirectory(TarEntryFormat.Pax, "./"),
            TarDirectory(TarEntryFormat.Pax, "./bin/"),
            TarFile(TarEntryFormat.Pax, "./bin/belay-agent", mode: Octal755),
            TarFile(TarEntryFormat.Pax, longName),
            TarFile(TarEntryFormat.Pax, "empty", []));

        var files = ArchiveExtractor.Extract(archive, Destination);

        Assert.Equal(["bin/belay-agent", longName, "empty"], files);
        Assert.Equal(Mode755, ModeOf(Path.Combine(Destination, "bin", "belay-agent")));
        Assert.Equal(0, new FileInfo(Path.Combine(Destination, "empty")).Length);
    }

    [Fact]
    public void AnOldV7DirectoryWrittenAsAnEmptyFileWithATrailingSlashIsADirectory()
    {
        var archive = TarGz(TarEntryFormat.V7, Entry(TarEntryFormat.V7, TarEntryType.V7RegularFile, "old/"), TarFile(TarEntryFormat.V7, "old/file"));
        Assert.Equal(["old/file"], ArchiveExtractor.Extract(archive, Destination));
        Assert.Equal(Mode755, ModeOf(Path.Combine(Destination, "old")));
    }

    [Fact]
    public void ARegularFileWithDataAndATrailingSlashIsRefused()
    {
        var archive = TarGz(TarEntryFormat.Pax, TarFile(TarEntryFormat.Pax, "bin/", "data"u8.ToArray()));
        AssertRefused(archive, "ends in '/'");
    }

    [Fact]
    public void GnuLongNamesAreAccepted()
    {
        var longName = string.Join('/', Enumerable.Repeat("deep", 40)) + "/file";
        var archive = TarGz(TarEntryFormat.Gnu, TarFile(TarEntryFormat.Gnu, longName, "x"u8.ToArray()));
        Assert.Equal([longName], ArchiveExtractor.Extract(archive, Destination));
        Assert.Equal("x", File.ReadAllText(Path.Combine(Destination, longName)));
    }
}
