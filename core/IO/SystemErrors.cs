using System.Globalization;
using System.Net.Http;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Belay.Core.IO;

/// <summary>
/// Our own words for what the runtime throws. The shipped executables are NativeAOT builds
/// without the runtime's message resources (UseSystemResourceKeys), so a runtime exception's
/// Message is a resource key such as "UnauthorizedAccess_IODenied_Path, /etc/belay/config.json"
/// or "ExpectedStartOfValueNotFound, 0x00 Path: $": never show it. The text here comes only
/// from the exception's type, its errno (strerror, which libc writes), its error enum, or the
/// position a JSON reader reports. Callers add the path, what was expected and what to do.
/// </summary>
public static class SystemErrors
{
    /// <summary>HRESULT of ERROR_FILE_EXISTS, what the runtime gives an IOException for EEXIST on every OS.</summary>
    private const int ErrorFileExists = unchecked((int)0x80070050);

    /// <summary>HRESULT of ERROR_ALREADY_EXISTS.</summary>
    private const int ErrorAlreadyExists = unchecked((int)0x800700B7);

    /// <summary>HRESULT of ERROR_SHARING_VIOLATION (a file locked by another process).</summary>
    private const int ErrorSharingViolation = unchecked((int)0x80070020);

    /// <summary>What went wrong, in a few lower-case words: "permission denied", "no space left on device".</summary>
    public static string Describe(Exception e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return e switch
        {
            FileNotFoundException or DirectoryNotFoundException => "no such file or folder",
            PathTooLongException => "the path is too long",
            UnauthorizedAccessException u => u.InnerException is IOException inner && Errno(inner.HResult) is { } why ? why : "permission denied",
            SocketException s => Socket(s),
            HttpRequestException h => Http(h.HttpRequestError, h.InnerException, h.StatusCode is { } code ? (int)code : null),
            HttpIOException h => Http(h.HttpRequestError, h.InnerException, null),
            JsonException j => Json(j),
            EndOfStreamException => "the data ends too early",
            IOException { HResult: ErrorFileExists or ErrorAlreadyExists } => "it already exists",
            IOException { HResult: ErrorSharingViolation } => "another process has it open",
            IOException io when Errno(io.HResult) is { } why => why,
            IOException { InnerException: { } inner } => Describe(inner),
            IOException => "input/output error",
            TimeoutException => "timed out",
            OperationCanceledException => "cancelled",
            InvalidDataException or FormatException => "the data is damaged or not in the expected format",
            NotSupportedException => "something this reader does not support",
            ArgumentException a => OwnText(a),
            // Its message is ours (the call's name and Windows' error in our words), not a runtime resource key.
            Programs.Windows.WindowsCallException w => w.Message,
            _ => "an unexpected error of kind " + e.GetType().Name.Replace("Exception", "", StringComparison.Ordinal),
        };
    }

    /// <summary>
    /// The text of an ArgumentException that Belay's own code threw, without what the runtime adds
    /// for its parameter (" (Parameter 'x')", or under NativeAOT the key " Arg_ParamName_Name, x").
    /// </summary>
    public static string OwnText(ArgumentException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var text = e.Message;
        if (e.ParamName is { } name)
        {
            foreach (var tail in new[] { $" (Parameter '{name}')", $" Arg_ParamName_Name, {name}" })
            {
                if (text.EndsWith(tail, StringComparison.Ordinal))
                {
                    return text[..^tail.Length];
                }
            }
        }
        return text;
    }

    /// <summary>True for the exceptions <see cref="Describe"/> has words for: what a user's input or machine can cause.</summary>
    public static bool IsEnvironmental(Exception e) =>
        e is IOException or UnauthorizedAccessException or SocketException or HttpRequestException or JsonException or TimeoutException;

    /// <summary>The OS's text for an errno (Unix) or a Win32 error carried as an HRESULT, lower-cased; null when the number is neither.</summary>
    public static string? Errno(int code)
    {
        int native;
        if (code is > 0 and < 4096)
        {
            native = code;
        }
        else if ((code & 0xFFFF0000) == unchecked((int)0x80070000) && OperatingSystem.IsWindows())
        {
            native = code & 0xFFFF;
        }
        else
        {
            return null;
        }
        var text = Marshal.GetPInvokeErrorMessage(native);
        if (string.IsNullOrWhiteSpace(text) || text.StartsWith("Unknown error", StringComparison.OrdinalIgnoreCase))
        {
            return $"system error {native}";
        }
        text = text.Trim().TrimEnd('.');
        return char.ToLowerInvariant(text[0]) + text[1..];
    }

    private static string Socket(SocketException s) => s.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => "the address is already in use (another program listens there)",
        SocketError.AccessDenied => "permission denied",
        SocketError.ConnectionRefused => "connection refused",
        SocketError.ConnectionReset => "the connection was reset",
        SocketError.HostNotFound or SocketError.NoData => "host not found",
        SocketError.TryAgain => "host not found (temporary failure in name resolution)",
        SocketError.TimedOut => "timed out",
        SocketError.NetworkUnreachable or SocketError.NetworkDown => "the network is unreachable",
        SocketError.HostUnreachable or SocketError.HostDown => "the host is unreachable",
        SocketError.AddressNotAvailable => "that address is not one of this host's",
        _ => Errno(s.NativeErrorCode) ?? $"socket error {s.SocketErrorCode}",
    };

    private static string Http(HttpRequestError error, Exception? inner, int? status)
    {
        if (inner is SocketException socket)
        {
            return Socket(socket);
        }
        return error switch
        {
            HttpRequestError.NameResolutionError => "host not found",
            HttpRequestError.ConnectionError => inner is null ? "cannot connect" : Describe(inner),
            HttpRequestError.SecureConnectionError => "the TLS handshake failed (check the server's certificate and this host's clock and CA certificates)",
            HttpRequestError.ResponseEnded => "the server closed the connection before the whole response arrived",
            HttpRequestError.InvalidResponse or HttpRequestError.HttpProtocolError => "the server's answer is not valid HTTP",
            HttpRequestError.ProxyTunnelError => "the proxy refused the connection",
            HttpRequestError.ConfigurationLimitExceeded => "the server's answer exceeds a limit (headers too large)",
            _ when status is { } code => string.Create(CultureInfo.InvariantCulture, $"HTTP status {code}"),
            _ when inner is not null => Describe(inner),
            _ => "the request failed",
        };
    }

    private static string Json(JsonException j)
    {
        var where = j.LineNumber is { } line
            ? string.Create(CultureInfo.InvariantCulture, $"line {line + 1}, column {(j.BytePositionInLine ?? 0) + 1}")
            : "";
        var path = string.IsNullOrEmpty(j.Path) || j.Path == "$" ? "" : $"at {j.Path}";
        var at = string.Join(", ", new[] { path, where }.Where(s => s.Length > 0));
        return at.Length == 0 ? "not valid JSON, or a value of the wrong type" : $"not valid JSON, or a value of the wrong type ({at})";
    }
}
