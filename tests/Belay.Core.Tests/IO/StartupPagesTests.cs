using System.IO.MemoryMappedFiles;
using Belay.Core.IO;

namespace Belay.Core.Tests.IO;

public sealed class StartupPagesTests
{
    private const string Exe = "/opt/belay/versions/1.0.0/belay-agent";

    private static readonly string[] Smaps =
    [
        $"55d0a0000000-55d0a0011000 r--p 00000000 fe:00 42   {Exe}",
        "Rss:                  68 kB",
        "Anonymous:             0 kB",
        $"55d0a0011000-55d0a0534000 r-xp 00011000 fe:00 42   {Exe}",
        "Rss:                4748 kB",
        "Anonymous:             0 kB",
        $"55d0a0d8b000-55d0a0d8d000 r--p 0092d000 fe:00 42   {Exe}",
        "Rss:                   8 kB",
        "Anonymous:             8 kB",
        $"55d0a0d8d000-55d0a0da9000 rw-p 0092e000 fe:00 42   {Exe}",
        "Rss:                 112 kB",
        "Anonymous:           112 kB",
        "55d0a0da9000-55d0a0fcd000 rw-p 00000000 00:00 0 ",
        "Rss:                2136 kB",
        "Anonymous:          2136 kB",
        "7f9d80000000-7f9d80021000 r-xp 00000000 fe:00 7   /usr/lib/x86_64-linux-gnu/libc.so.6",
        "Rss:                  20 kB",
        "Anonymous:             0 kB",
        "7f1286200000-7f12862c5000 r--p 00000000 fe:00 9   /usr/lib/x86_64-linux-gnu/libcrypto.so.3",
        "Rss:                 788 kB",
        "Anonymous:             0 kB",
        "7f12862c5000-7f1286544000 r-xp 000c5000 fe:00 9   /usr/lib/x86_64-linux-gnu/libcrypto.so.3",
        "Rss:                2552 kB",
        "Anonymous:             0 kB",
        "7f1286622000-7f1286684000 r--p 00421000 fe:00 9   /usr/lib/x86_64-linux-gnu/libcrypto.so.3",
        "Rss:                 392 kB",
        "Anonymous:           392 kB",
        "7f1286684000-7f1286687000 rw-p 00483000 fe:00 9   /usr/lib/x86_64-linux-gnu/libcrypto.so.3",
        "Rss:                  12 kB",
        "Anonymous:            12 kB",
        "7f1e6c532000-7f1e6c58f000 r-xp 0001f000 fe:00 11  /usr/lib/x86_64-linux-gnu/libssl.so.3",
        "Rss:                 372 kB",
        "Anonymous:             0 kB",
        "7f1e6c600000-7f1e6c601000 r-xp 00000000 fe:00 12  /opt/app/libssl_helper.so",
        "Rss:                   4 kB",
        "Anonymous:             0 kB",
    ];

    [Fact]
    public void OnlyTheExecutablesOwnMappingsAreRead()
    {
        var maps = StartupPages.ReadMappings(Smaps, Exe);
        Assert.Equal(4, maps.Count);
        Assert.Equal(0x55d0a0011000UL, maps[1].Start);
        Assert.Equal(0x55d0a0534000UL, maps[1].End);
        Assert.Equal(4748, maps[1].RssKb);
        Assert.True(maps[1].Executable);
        Assert.Equal(0x11000UL, maps[1].Offset);
        Assert.False(maps[0].Executable);
        Assert.Equal(0x92e000UL, maps[3].Offset);
    }

    [Fact]
    public void RelocatedReadOnlyPagesAndWritableDataAreToldApartFromCleanFilePages()
    {
        // Release() advises only the clean ones: not writable, no anonymous (copy-on-write) pages.
        var maps = StartupPages.ReadMappings(Smaps, Exe);
        var clean = maps.Where(m => !m.Writable && m.AnonymousKb == 0).Select(m => m.Start).ToList();
        Assert.Equal([0x55d0a0000000UL, 0x55d0a0011000UL], clean);
        Assert.True(maps[3].Writable);
        Assert.Equal(8, maps[2].AnonymousKb);
    }

    [Fact]
    public void TheTlsLibrariesCleanMappingsAreGivenBackAndTheirRelocatedOnesAreNot()
    {
        // libssl and libcrypto by file name (not libc, not a library whose name only starts alike); of their mappings
        // only the clean ones: code and read-only data, not RELRO (copy-on-write pages) nor data.
        var tls = StartupPages.ReadMappings(Smaps, StartupPages.IsTlsLibrary);
        Assert.Equal(5, tls.Count);
        var clean = tls.Where(StartupPages.IsClean).Select(m => (m.Start, m.Executable)).ToList();
        Assert.Equal([(0x7f1286200000UL, false), (0x7f12862c5000UL, true), (0x7f1e6c532000UL, true)], clean);
        Assert.False(StartupPages.IsTlsLibrary("/opt/app/libssl_helper.so"));
        Assert.True(StartupPages.IsTlsLibrary("/lib/libcrypto.so.1.1"));
        Assert.True(StartupPages.IsTlsLibrary("/usr/lib/libssl.so.3"));
    }

    [Fact]
    public void TheTlsLibrariesWorkOnAfterTheirPagesWereGivenBack()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Skip("Linux only");
        }
        // SHA-256 and an ECDSA signature run in libcrypto here (System.Security.Cryptography on Linux is OpenSSL).
        var data = "belay"u8.ToArray();
        var hash = System.Security.Cryptography.SHA256.HashData(data);
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var signature = key.SignData(data, System.Security.Cryptography.HashAlgorithmName.SHA256);
        var mapped = StartupPages.ReadMappings(File.ReadAllLines("/proc/self/smaps"), StartupPages.IsTlsLibrary);
        Assert.Contains(mapped, m => m.Executable && m.RssKb > 0);

        Assert.True(StartupPages.Release() > 0);
        Assert.Equal(hash, System.Security.Cryptography.SHA256.HashData(data));
        Assert.True(key.VerifyData(data, signature, System.Security.Cryptography.HashAlgorithmName.SHA256));
    }

    [Fact]
    public void ReadOnlyDataGivenBackFaultsBackOnePageATouchNot64KiB()
    {
        // The kernel maps up to 64 KiB of page-cached file around a fault: after GiveBack, a mapping that is not code
        // must come back only as the pages touched (it is paged out, read-ahead is off, the rest left the page cache).
        const int size = 8 << 20;
        const int touches = 16;
        // Beside the test assembly, not in TempDir: /tmp is a tmpfs on many machines (Debian 13's default), where the
        // file's pages are its storage and cannot leave the page cache, so nothing could be shown there.
        var path = Path.Combine(AppContext.BaseDirectory, $"belay-pages-{Guid.NewGuid():N}");
        try
        {
            using (var write = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
            {
                var data = new byte[size];
                Random.Shared.NextBytes(data);
                write.Write(data);
                write.Flush(flushToDisk: true); // clean pages: a dirty one would be written back, not dropped
            }
            using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            using var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            using var view = map.CreateViewAccessor(0, size, MemoryMappedFileAccess.Read);
            long sum = 0;
            for (var offset = 0; offset < size; offset += 4096)
            {
                sum += view.ReadByte(offset);
            }
            var mapping = Assert.Single(StartupPages.ReadMappings(File.ReadAllLines("/proc/self/smaps"), path));
            Assert.False(mapping.Executable);
            Assert.True(mapping.RssKb >= size / 1024 / 2, $"the mapping was not resident to begin with ({mapping.RssKb} kB)");

            Assert.True(StartupPages.GiveBack(mapping, file));
            for (var i = 0; i < touches; i++)
            {
                sum += view.ReadByte((long)i * (size / touches) + 8192);
            }

            var after = Assert.Single(StartupPages.ReadMappings(File.ReadAllLines("/proc/self/smaps"), path));
            // One page a touch; after a plain MADV_DONTNEED, 64 KiB a touch or a whole large folio came back (8,192 kB here).
            Assert.True(after.RssKb <= touches * 4 * 2, $"{after.RssKb} kB resident after {touches} touches ({sum})");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ReleasingInARunningProcessKeepsItRunning()
    {
        // The test host's own executable: whatever it gave back faults in again as it runs on.
        var released = StartupPages.Release();
        Assert.True(released >= 0);
        Assert.Equal(4, string.Concat("ab", "cd").Length);
    }
}
