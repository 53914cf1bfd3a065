using System.Text;

namespace Belay.Core.Serving;

/// <summary>
/// The request line and header fields of one HTTP/1.x request, parsed from the raw head
/// (everything up to the empty line). Pure: no I/O, so every malformed shape is a unit test.
/// Only what a static GET/HEAD server needs is kept; the parser is strict where leniency
/// would let two parties read one request differently (RFC 9112 §2.2, §3, §5, §6.3).
/// </summary>
internal sealed class HttpRequestHead
{
    private readonly List<KeyValuePair<string, string>> headers;

    private HttpRequestHead(string method, string target, bool isHttp11, List<KeyValuePair<string, string>> headers,
        bool hasBody)
    {
        Method = method;
        Target = target;
        IsHttp11 = isHttp11;
        this.headers = headers;
        HasBody = hasBody;
    }

    public string Method { get; }

    /// <summary>The request-target exactly as sent (visible ASCII only).</summary>
    public string Target { get; }

    public bool IsHttp11 { get; }

    public string Version => IsHttp11 ? "HTTP/1.1" : "HTTP/1.0";

    /// <summary>True when the request announces a body (Content-Length &gt; 0 or Transfer-Encoding).
    /// This server never reads one, so such a connection is closed after the response.</summary>
    public bool HasBody { get; }

    public IReadOnlyList<KeyValuePair<string, string>> Headers => headers;

    /// <summary>HTTP/1.1 keeps the connection unless told "close"; HTTP/1.0 is always closed
    /// (its keep-alive extension is not worth supporting here).</summary>
    public bool KeepAlive => IsHttp11 && !HasBody && !HasToken("Connection", "close");

    /// <summary>All values of a field, in order (a list-valued field may be split over lines).</summary>
    public IEnumerable<string> Values(string name)
    {
        foreach (var (key, value) in headers)
        {
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
            {
                yield return value;
            }
        }
    }

    public bool Has(string name) => Values(name).Any();

    private bool HasToken(string name, string token) =>
        Values(name).SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries))
            .Any(t => string.Equals(t, token, StringComparison.OrdinalIgnoreCase));

    /// <summary>Parses a request head. <paramref name="head"/> holds the request line and the
    /// header lines, each ended by CRLF (a bare LF is accepted, RFC 9112 §2.2), and may include
    /// the final empty line.</summary>
    public static RequestParseResult Parse(ReadOnlySpan<byte> head, int maxHeaderCount = 100)
    {
        var lineEnd = head.IndexOf((byte)'\n');
        if (lineEnd < 0)
        {
            return RequestParseResult.Fail(400, "request line not terminated");
        }
        if (!TryLine(head[..lineEnd], out var requestLine))
        {
            return RequestParseResult.Fail(400, "bare CR in request line");
        }
        var rest = head[(lineEnd + 1)..];

        // request-line = method SP request-target SP HTTP-version; exactly single spaces.
        var firstSpace = requestLine.IndexOf((byte)' ');
        if (firstSpace <= 0)
        {
            return RequestParseResult.Fail(400, "malformed request line");
        }
        var method = requestLine[..firstSpace];
        var afterMethod = requestLine[(firstSpace + 1)..];
        var secondSpace = afterMethod.IndexOf((byte)' ');
        if (secondSpace <= 0)
        {
            return RequestParseResult.Fail(400, "malformed request line");
        }
        var target = afterMethod[..secondSpace];
        var version = afterMethod[(secondSpace + 1)..];
        if (!IsToken(method))
        {
            return RequestParseResult.Fail(400, "malformed method");
        }
        foreach (var b in target)
        {
            if (b is < 0x21 or > 0x7E)
            {
                return RequestParseResult.Fail(400, "malformed request-target");
            }
        }
        bool isHttp11;
        if (version.SequenceEqual("HTTP/1.1"u8))
        {
            isHttp11 = true;
        }
        else if (version.SequenceEqual("HTTP/1.0"u8))
        {
            isHttp11 = false;
        }
        else if (version.Length == 8 && version.StartsWith("HTTP/"u8) && char.IsAsciiDigit((char)version[5])
                 && version[6] == '.' && char.IsAsciiDigit((char)version[7]))
        {
            return RequestParseResult.Fail(505, "HTTP version not supported");
        }
        else
        {
            return RequestParseResult.Fail(400, "malformed HTTP version");
        }

        var headers = new List<KeyValuePair<string, string>>();
        while (!rest.IsEmpty)
        {
            lineEnd = rest.IndexOf((byte)'\n');
            if (lineEnd < 0)
            {
                return RequestParseResult.Fail(400, "header line not terminated");
            }
            if (!TryLine(rest[..lineEnd], out var line))
            {
                return RequestParseResult.Fail(400, "bare CR in header");
            }
            rest = rest[(lineEnd + 1)..];
            if (line.IsEmpty)
            {
                break; // the empty line that ends the head
            }
            if (line[0] is (byte)' ' or (byte)'\t')
            {
                return RequestParseResult.Fail(400, "obsolete line folding"); // RFC 9112 §5.2
            }
            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || !IsToken(line[..colon]))
            {
                return RequestParseResult.Fail(400, "malformed header field"); // also "Name : v" (§5.1)
            }
            var value = line[(colon + 1)..].Trim(" \t"u8);
            foreach (var b in value)
            {
                if (b is < 0x20 and not (byte)'\t' || b == 0x7F)
                {
                    return RequestParseResult.Fail(400, "control character in header value");
                }
            }
            if (headers.Count >= maxHeaderCount)
            {
                return RequestParseResult.Fail(431, "too many header fields");
            }
            headers.Add(new(Encoding.ASCII.GetString(line[..colon]), Encoding.Latin1.GetString(value)));
        }

        var hosts = headers.Count(h => string.Equals(h.Key, "Host", StringComparison.OrdinalIgnoreCase));
        if (isHttp11 ? hosts != 1 : hosts > 1)
        {
            return RequestParseResult.Fail(400, "HTTP/1.1 needs exactly one Host header"); // RFC 9112 §3.2
        }

        var hasBody = false;
        if (headers.Any(h => string.Equals(h.Key, "Transfer-Encoding", StringComparison.OrdinalIgnoreCase)))
        {
            hasBody = true;
        }
        long? contentLength = null;
        foreach (var (key, value) in headers)
        {
            if (!string.Equals(key, "Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            foreach (var part in value.Split(',', StringSplitOptions.TrimEntries))
            {
                if (part.Length == 0 || part.Length > 18 || !part.All(char.IsAsciiDigit))
                {
                    return RequestParseResult.Fail(400, "malformed Content-Length");
                }
                var n = long.Parse(part, System.Globalization.CultureInfo.InvariantCulture);
                if (contentLength is { } seen && seen != n)
                {
                    return RequestParseResult.Fail(400, "conflicting Content-Length"); // RFC 9112 §6.3
                }
                contentLength = n;
            }
        }
        hasBody |= contentLength > 0;

        return RequestParseResult.Ok(new HttpRequestHead(Encoding.ASCII.GetString(method),
            Encoding.ASCII.GetString(target), isHttp11, headers, hasBody));
    }

    /// <summary>Strips the CR of a CRLF; refuses a CR anywhere else (RFC 9112 §2.2).</summary>
    private static bool TryLine(ReadOnlySpan<byte> raw, out ReadOnlySpan<byte> line)
    {
        line = raw.EndsWith("\r"u8) ? raw[..^1] : raw;
        return line.IndexOf((byte)'\r') < 0;
    }

    /// <summary>token = 1*tchar (RFC 9110 §5.6.2).</summary>
    private static bool IsToken(ReadOnlySpan<byte> s)
    {
        if (s.IsEmpty)
        {
            return false;
        }
        foreach (var b in s)
        {
            var ok = b is >= (byte)'a' and <= (byte)'z' or >= (byte)'A' and <= (byte)'Z' or >= (byte)'0' and <= (byte)'9'
                || "!#$%&'*+-.^_`|~"u8.Contains(b);
            if (!ok)
            {
                return false;
            }
        }
        return true;
    }
}

/// <summary>A parsed head, or the status (400, 431, 505) and reason to answer with.</summary>
internal readonly record struct RequestParseResult(HttpRequestHead? Request, int ErrorStatus, string? Error)
{
    public static RequestParseResult Ok(HttpRequestHead request) => new(request, 0, null);

    public static RequestParseResult Fail(int status, string error) => new(null, status, error);
}
