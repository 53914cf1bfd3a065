using System.Net.Http;
using System.Net.Sockets;
using System.Text.Json;
using Belay.Core.IO;

namespace Belay.Core.Tests.IO;

/// <summary>
/// The words Belay uses for runtime errors come from the error itself (type, errno, error enum,
/// JSON position), never from the runtime's message, which NativeAOT replaces with a resource key.
/// </summary>
public sealed class SystemErrorsTests
{
    private const string Key = "SomeResource_Key_Name, /the/path";

    [Fact]
    public void AccessDeniedIsSaidFromTheErrnoNotTheMessage()
    {
        var e = new UnauthorizedAccessException(Key, new IOException("x", 13));
        Assert.Equal("permission denied", SystemErrors.Describe(e));
        Assert.Equal("permission denied", SystemErrors.Describe(new UnauthorizedAccessException(Key)));
    }

    [Theory]
    [InlineData(28, "no space left on device")]
    [InlineData(30, "read-only file system")]
    [InlineData(20, "not a directory")]
    public void AnIOErrorWithAnErrnoIsSaidByTheSystem(int errno, string expected)
    {
        Assert.Equal(expected, SystemErrors.Describe(new IOException(Key, errno)));
    }

    [Fact]
    public void AFailedWindowsCallIsSaidInOurWordsWithItsCallAndError()
    {
        Assert.Equal("CreateProcessAsUser failed: Windows error 6 (app.exe)",
            SystemErrors.Describe(new Belay.Core.Programs.Windows.WindowsCallException("CreateProcessAsUser", 6, "app.exe")));
    }

    [Fact]
    public void AFileThatExistsIsSaidSo()
    {
        Assert.Equal("it already exists", SystemErrors.Describe(new IOException(Key, unchecked((int)0x80070050))));
    }

    [Fact]
    public void MissingFilesAndFoldersAreSaidSo()
    {
        Assert.Equal("no such file or folder", SystemErrors.Describe(new FileNotFoundException(Key)));
        Assert.Equal("no such file or folder", SystemErrors.Describe(new DirectoryNotFoundException(Key)));
    }

    [Theory]
    [InlineData(SocketError.AddressAlreadyInUse, "the address is already in use")]
    [InlineData(SocketError.AccessDenied, "permission denied")]
    [InlineData(SocketError.ConnectionRefused, "connection refused")]
    [InlineData(SocketError.HostNotFound, "host not found")]
    public void SocketErrorsAreSaidFromTheirCode(SocketError error, string expected)
    {
        Assert.StartsWith(expected, SystemErrors.Describe(new SocketException((int)error)), StringComparison.Ordinal);
    }

    [Fact]
    public void AResponseThatEndsEarlyIsSaidSo()
    {
        var e = new HttpIOException(HttpRequestError.ResponseEnded, "net_http_invalid_response_premature_eof_bytecount, 42");
        Assert.Equal("the server closed the connection before the whole response arrived", SystemErrors.Describe(e));
        var refused = new HttpRequestException(HttpRequestError.ConnectionError, Key, new SocketException((int)SocketError.ConnectionRefused));
        Assert.Equal("connection refused", SystemErrors.Describe(refused));
    }

    [Fact]
    public void BadJsonIsSaidWithItsPositionAndPath()
    {
        var e = Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse("{\n  \"a\": [1,\n  oops ]\n}"));
        var said = SystemErrors.Describe(e);
        Assert.StartsWith("not valid JSON, or a value of the wrong type (", said, StringComparison.Ordinal);
        Assert.Contains("line 3, column 3", said, StringComparison.Ordinal);
        Assert.DoesNotContain(e.Message, said, StringComparison.Ordinal);
    }

    [Fact]
    public void NothingOfTheRuntimesMessageIsEverRepeated()
    {
        foreach (var e in new Exception[]
        {
            new IOException(Key), new IOException(Key, 5), new UnauthorizedAccessException(Key), new PathTooLongException(Key),
            new JsonException(Key), new TimeoutException(Key), new EndOfStreamException(Key), new InvalidDataException(Key),
            new HttpRequestException(Key), new IOException(Key, new UnauthorizedAccessException(Key)),
        })
        {
            Assert.DoesNotContain("Resource", SystemErrors.Describe(e), StringComparison.Ordinal);
        }
    }
}
