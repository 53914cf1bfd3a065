using System.Text;

namespace Belay.Serving;

/// <summary>
/// Turns a request-target into the path of a file inside the feed, or refuses it. Pure.
///
/// Refused with 400 (never normalised, so no two spellings reach one file): "." and ".."
/// segments, raw or percent-encoded; encoded "/" (%2F); backslashes; NUL and other control
/// bytes; ":" (a Windows drive or alternate data stream); "//"; bad percent-escapes or UTF-8;
/// anything but origin-form or absolute-form. Answered with 404: the root and any path ending
/// in "/" (no directory listing), and hidden names (a segment starting with "."), which is
/// where publishers keep temporary files while they write a feed.
///
/// The target is the raw request-target as the client sent it (Kestrel's
/// <c>IHttpRequestFeature.RawTarget</c>), not <c>HttpRequest.Path</c>, which Kestrel has
/// already percent-decoded and stripped of dot segments: these rules must see the spelling.
/// </summary>
internal static class FeedRequestPath
{
    /// <summary>Parses <paramref name="target"/>; on success <see cref="RequestPathResult.Segments"/>
    /// holds the decoded, checked path segments (at least one). <paramref name="prefix"/>
    /// ("" or like "/feed", no trailing slash) is where the feed is mounted: the path must start
    /// with it, spelled exactly so, and the segments are what follows it.</summary>
    public static RequestPathResult Parse(string target, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(prefix);
        var path = target;

        // absolute-form (RFC 9112 §3.2.2): a server must accept it; the authority is ignored.
        foreach (var scheme in (ReadOnlySpan<string>)["http://", "https://"])
        {
            if (path.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            {
                var slash = path.IndexOf('/', scheme.Length);
                path = slash < 0 ? "/" : path[slash..];
                break;
            }
        }
        if (!path.StartsWith('/'))
        {
            return RequestPathResult.Fail(400, "request-target is not a path");
        }
        var query = path.IndexOf('?', StringComparison.Ordinal);
        if (query >= 0)
        {
            path = path[..query];
        }
        if (path.Contains('#', StringComparison.Ordinal))
        {
            return RequestPathResult.Fail(400, "fragment in request-target");
        }
        if (prefix.Length > 0)
        {
            if (!path.StartsWith(prefix, StringComparison.Ordinal) || (path.Length > prefix.Length && path[prefix.Length] != '/'))
            {
                return RequestPathResult.Fail(404, "outside the feed's prefix");
            }
            path = path.Length == prefix.Length ? "/" : path[prefix.Length..];
        }

        var segments = path[1..].Split('/');
        var decoded = new List<string>(segments.Length);
        for (var i = 0; i < segments.Length; i++)
        {
            if (segments[i].Length == 0)
            {
                // "/" and "/agent/" name directories: 404, never a listing. "a//b" is ambiguous: 400.
                return i == segments.Length - 1
                    ? RequestPathResult.Fail(404, "directory")
                    : RequestPathResult.Fail(400, "empty path segment");
            }
            if (!TryDecodeSegment(segments[i], out var segment, out var error))
            {
                return RequestPathResult.Fail(400, error);
            }
            if (segment is "." or "..")
            {
                return RequestPathResult.Fail(400, "dot segment");
            }
            if (segment.StartsWith('.'))
            {
                return RequestPathResult.Fail(404, "hidden file");
            }
            decoded.Add(segment);
        }
        return RequestPathResult.Ok(decoded);
    }

    private static bool TryDecodeSegment(string raw, out string segment, out string error)
    {
        segment = "";
        var bytes = new List<byte>(raw.Length);
        for (var i = 0; i < raw.Length; i++)
        {
            var c = raw[i];
            byte b;
            if (c == '%')
            {
                if (i + 2 >= raw.Length || !char.IsAsciiHexDigit(raw[i + 1]) || !char.IsAsciiHexDigit(raw[i + 2]))
                {
                    error = "bad percent-escape";
                    return false;
                }
                b = Convert.FromHexString(raw.AsSpan(i + 1, 2))[0];
                i += 2;
                if (b == '/')
                {
                    error = "encoded slash";
                    return false;
                }
            }
            else if (c > 0x7E)
            {
                error = "non-ASCII byte in request-target";
                return false;
            }
            else
            {
                b = (byte)c;
            }
            if (b < 0x20 || b == 0x7F)
            {
                error = "control byte in path";
                return false;
            }
            if (b is (byte)'\\' or (byte)':')
            {
                error = b == '\\' ? "backslash in path" : "colon in path";
                return false;
            }
            bytes.Add(b);
        }
        try
        {
            segment = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.ToArray());
        }
        catch (DecoderFallbackException)
        {
            error = "path is not UTF-8";
            return false;
        }
        error = "";
        return true;
    }
}

/// <summary>The checked segments of a request path, or the status (400 or 404) to answer with.</summary>
internal readonly record struct RequestPathResult(IReadOnlyList<string>? Segments, int ErrorStatus, string? Error)
{
    public static RequestPathResult Ok(IReadOnlyList<string> segments) => new(segments, 0, null);

    public static RequestPathResult Fail(int status, string error) => new(null, status, error);

    /// <summary>The segments joined with "/", as in feed manifests ("agent/1.4.2/x.tar.gz").</summary>
    public string RelativePath => Segments is null ? "" : string.Join('/', Segments);
}
