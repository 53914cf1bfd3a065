using Belay.Core.IO;
using Belay.TestSupport;

namespace Belay.Core.Tests.IO;

public sealed class AtomicFileTests
{
    [Fact]
    public void ASecretIsCreatedReadableByItsOwnerOnly()
    {
        using var dir = new TempDir();
        var path = dir.Combine("token");
        AtomicFile.WriteAllText(path, "s3cret", AtomicFile.OwnerOnly);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public void ReplacingAFileLeavesNoTemporaryFilesBehind()
    {
        using var dir = new TempDir();
        var path = dir.Combine("state.json");
        AtomicFile.WriteAllText(path, "one");
        AtomicFile.WriteAllText(path, "two");
        Assert.Equal("two", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void AFailedCopyLeavesTheOldFileAndNoTemporaryFile()
    {
        using var dir = new TempDir();
        var path = dir.Combine("artifact");
        File.WriteAllText(path, "old");
        Assert.ThrowsAny<IOException>(() => AtomicFile.Copy(dir.Combine("missing"), path));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void CopyReturnsTheSha256AndSizeOfWhatItWrote()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.Combine("a"), "abc");
        var (sha, size) = AtomicFile.Copy(dir.Combine("a"), dir.Combine("b"));
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", sha);
        Assert.Equal(3, size);
    }
}
