using System.Globalization;

namespace Belay.Core.Serving;

/// <summary>
/// Conditional GET (RFC 9110 §13): whether If-None-Match or If-Modified-Since lets the server
/// answer 304. Pure.
/// </summary>
internal static class Conditionals
{
    /// <summary>
    /// True when the request's validators say the client already has the representation
    /// whose strong <paramref name="etag"/> and <paramref name="lastModified"/> are given.
    /// If-None-Match wins; If-Modified-Since is read only without it (§13.2.2 steps 3–4).
    /// </summary>
    public static bool NotModified(IReadOnlyList<string> ifNoneMatch, IReadOnlyList<string> ifModifiedSince,
        string etag, DateTimeOffset lastModified)
    {
        ArgumentNullException.ThrowIfNull(ifNoneMatch);
        ArgumentNullException.ThrowIfNull(ifModifiedSince);
        if (ifNoneMatch.Count > 0)
        {
            return NoneMatchFails(ifNoneMatch, etag);
        }
        if (ifModifiedSince.Count == 1 && TryParseHttpDate(ifModifiedSince[0], out var since))
        {
            // Last-Modified has whole seconds on the wire; compare what the client saw.
            var sent = new DateTimeOffset(lastModified.UtcTicks - (lastModified.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
            return sent <= since;
        }
        return false;
    }

    /// <summary>
    /// Evaluates If-None-Match (RFC 9110 §13.1.2): true when "*" is given (the file exists)
    /// or any listed entity-tag matches <paramref name="etag"/> by weak comparison, so
    /// <c>W/"x"</c> matches <c>"x"</c>. The field may be split over several lines, and a
    /// comma may sit inside a quoted tag. A malformed field is ignored (no match): answering
    /// with the full body is always safe.
    /// </summary>
    public static bool NoneMatchFails(IEnumerable<string> fieldValues, string etag)
    {
        ArgumentNullException.ThrowIfNull(fieldValues);
        ArgumentNullException.ThrowIfNull(etag);
        var current = Opaque(etag);
        var matched = false;
        foreach (var value in fieldValues)
        {
            var s = value.AsSpan();
            var i = 0;
            var tagsInValue = 0;
            while (true)
            {
                while (i < s.Length && s[i] is ' ' or '\t' or ',')
                {
                    i++;
                }
                if (i == s.Length)
                {
                    break;
                }
                if (s[i] == '*')
                {
                    if (tagsInValue > 0 || s[(i + 1)..].Trim(" \t").Length > 0)
                    {
                        return false; // "*" must stand alone
                    }
                    matched = true;
                    break;
                }
                if (s[i..].StartsWith("W/", StringComparison.Ordinal))
                {
                    i += 2;
                }
                if (i >= s.Length || s[i] != '"')
                {
                    return false;
                }
                var close = s[(i + 1)..].IndexOf('"');
                if (close < 0)
                {
                    return false;
                }
                var opaque = s.Slice(i, close + 2);
                foreach (var c in opaque[1..^1])
                {
                    if (c is < (char)0x21 or (char)0x7F)
                    {
                        return false;
                    }
                }
                matched |= opaque.SequenceEqual(current);
                tagsInValue++;
                i += close + 2;
                while (i < s.Length && s[i] is ' ' or '\t')
                {
                    i++;
                }
                if (i < s.Length && s[i] != ',')
                {
                    return false;
                }
            }
        }
        return matched;
    }

    /// <summary>The IMF-fixdate form every response uses (RFC 9110 §5.6.7).</summary>
    public static string FormatHttpDate(DateTimeOffset when) =>
        when.UtcDateTime.ToString("r", CultureInfo.InvariantCulture);

    /// <summary>Reads an HTTP-date in any of its three forms (IMF-fixdate, RFC 850, asctime).</summary>
    public static bool TryParseHttpDate(string value, out DateTimeOffset date) =>
        DateTimeOffset.TryParseExact(value?.Trim(),
            ["r", "dddd, dd-MMM-yy HH:mm:ss 'GMT'", "ddd MMM d HH:mm:ss yyyy", "ddd MMM  d HH:mm:ss yyyy"],
            CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out date);

    private static ReadOnlySpan<char> Opaque(string etag) =>
        etag.StartsWith("W/", StringComparison.Ordinal) ? etag.AsSpan(2) : etag.AsSpan();
}
