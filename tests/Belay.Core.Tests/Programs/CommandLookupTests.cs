using Belay.Core.Programs;
using Belay.TestSupport;

namespace Belay.Core.Tests.Programs;

public sealed class CommandLookupTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Executable(string name, bool executable = true)
    {
        var path = _dir.Combine(name);
        File.WriteAllText(path, "#!/bin/sh\n");
        File.SetUnixFileMode(path, executable ? (UnixFileMode)0b111_101_101 : (UnixFileMode)0b110_100_100);
        return path;
    }

    [Fact]
    public void AnExecutableByPathOrOnThePathIsFine()
    {
        Assert.Null(CommandLookup.Problem(Executable("tool"), "/", null));
        Assert.Null(CommandLookup.Problem("tool", "/", $"/nonexistent:{_dir.Path}"));
        Assert.Null(CommandLookup.Problem("sh", "/", null)); // the default PATH
        Assert.Null(CommandLookup.Problem("./tool", _dir.Path, null)); // relative to the program's directory
    }

    [Fact]
    public void AMissingCommandIsASpawnErrorThatNamesIt()
    {
        Assert.Equal("spawn error: /x/y: not found", CommandLookup.Problem("/x/y", "/", null));
        Assert.Equal("spawn error: nosuchtool: not found in PATH (/a:/b)", CommandLookup.Problem("nosuchtool", "/", "/a:/b"));
    }

    [Fact]
    public void AFolderOrAFileWithoutExecuteBitIsNoProgram()
    {
        Assert.Equal($"spawn error: {_dir.Path}: is a folder, not a program", CommandLookup.Problem(_dir.Path, "/", null));
        var plain = Executable("plain", executable: false);
        Assert.Equal($"spawn error: {plain}: not executable (chmod +x {plain})", CommandLookup.Problem(plain, "/", null));
        Assert.Equal($"spawn error: {plain}: not executable (chmod +x {plain})", CommandLookup.Problem("plain", "/", _dir.Path));
    }
}
