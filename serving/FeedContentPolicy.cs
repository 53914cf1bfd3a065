namespace Belay.Serving;

/// <summary>
/// Content-Type and Cache-Control for a path in a feed. Pure. docs/feed.md gives the same
/// rules for nginx and S3; keep the three in step.
///
/// Cache-Control, first rule that applies wins:
/// 1. <c>*.json</c> and <c>*.json.minisig</c> (root.json, channels/*.json): <see cref="NoCache"/>,
///    they change in place and a stale copy delays or, past <c>expires</c>, breaks updates.
/// 2. Files in a version folder, <c>agent/&lt;version&gt;/…</c> and <c>bootstrap/&lt;version&gt;/…</c>:
///    <see cref="Immutable"/>, a published version never changes.
/// 3. Everything else (install.sh, install.ps1, …): <see cref="NoCache"/>.
/// </summary>
internal static class FeedContentPolicy
{
    public const string NoCache = "no-cache";

    public const string Immutable = "public, max-age=31536000, immutable";

    public const string TextPlain = "text/plain; charset=utf-8";

    public const string OctetStream = "application/octet-stream";

    public static string ContentType(string relativePath)
    {
        ArgumentNullException.ThrowIfNull(relativePath);
        var name = relativePath[(relativePath.LastIndexOf('/') + 1)..];
        if (name == "SHA256SUMS")
        {
            return TextPlain;
        }
        if (EndsWith(name, ".tar.gz") || EndsWith(name, ".tgz") || EndsWith(name, ".gz"))
        {
            return "application/gzip";
        }
        return Path.GetExtension(name).ToLowerInvariant() switch
        {
            ".json" => "application/json",
            ".minisig" or ".txt" or ".sh" or ".ps1" => TextPlain,
            ".zip" => "application/zip",
            ".msi" => "application/x-msi",
            _ => OctetStream,
        };
    }

    public static string CacheControl(string relativePath)
    {
        ArgumentNullException.ThrowIfNull(relativePath);
        if (EndsWith(relativePath, ".json") || EndsWith(relativePath, ".json.minisig"))
        {
            return NoCache;
        }
        var parts = relativePath.Split('/');
        if (parts.Length >= 3 && parts[0] is "agent" or "bootstrap")
        {
            return Immutable;
        }
        return NoCache;
    }

    private static bool EndsWith(string s, string suffix) => s.EndsWith(suffix, StringComparison.OrdinalIgnoreCase);
}
