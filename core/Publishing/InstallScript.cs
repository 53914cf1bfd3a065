using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Belay.Core.Feed;
using Belay.Core.IO;
using Belay.Core.Minisign;
using Belay.Core.Services;
using Belay.Core.Versioning;

namespace Belay.Core.Publishing;

/// <summary>
/// One bootstrapper that install.sh offers: its RID, its path in the feed and its SHA-256 (lower-case hex);
/// and, when the feed has its gzip copy (what install.sh then downloads), the bootstrapper's size and the
/// copy's path and SHA-256.
/// </summary>
public sealed record InstallScriptBuild(string Rid, string Path, string Sha256, BootstrapGzipCopy? Gzip = null);

/// <summary>The gzip copy of a bootstrapper: its path in the feed, its SHA-256, and the size it decompresses to (the bootstrapper's).</summary>
public sealed record BootstrapGzipCopy(string Path, string Sha256, long Size);

/// <summary>What install.sh is rendered with: one feed's URL, default channel, root keys and bootstrappers.</summary>
public sealed record InstallScriptValues(
    string FeedUrl,
    string Channel,
    IReadOnlyList<MinisignPublicKey> RootKeys,
    string BootstrapVersion,
    IReadOnlyList<InstallScriptBuild> Builds);

/// <summary>
/// install.sh, the curl one-liner (docs/install.md). The script is data: the template
/// (installers/install.sh, embedded in belay-release) is filled with one feed's values, each
/// checked for its form and then single-quoted for sh, so that no value can end a string or
/// start a command. <see cref="FromFeed"/> reads the values from a feed folder as a host would
/// trust them (root.json, then the channel manifest); <see cref="Write"/> puts the script and
/// its signature at the feed root, atomically.
/// </summary>
public static partial class InstallScript
{
    public const string FileName = "install.sh";

    /// <summary>The RIDs install.sh can choose (what its uname mapping produces); Windows has install.ps1.</summary>
    public static readonly IReadOnlySet<string> ScriptRids = new HashSet<string>(StringComparer.Ordinal)
    {
        "linux-x64", "linux-arm64", "linux-musl-x64", "linux-musl-arm64", "osx-x64", "osx-arm64",
    };

    /// <summary>The template filled with <paramref name="values"/>; throws on any value of the wrong form.</summary>
    public static string Render(string template, InstallScriptValues values)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(values);
        var (url, builds) = Check(values, FileName, UrlPattern(), ScriptRids, "for Linux or macOS; publish one with belay-release publish --bootstrap RID=PATH");
        // RID|path|SHA-256, and |size|gzip path|gzip SHA-256 when there is a gzip copy: a script
        // reads the fields it knows, so the three-field form of older feeds still works.
        var table = string.Join("\n", builds.Select(b => b.Gzip is { } gz
            ? string.Create(CultureInfo.InvariantCulture, $"{b.Rid}|{b.Path}|{b.Sha256}|{gz.Size}|{gz.Path}|{gz.Sha256}")
            : $"{b.Rid}|{b.Path}|{b.Sha256}"));
        var filled = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["FeedUrl"] = ShellQuote(url),
            ["Channel"] = ShellQuote(values.Channel),
            ["RootKeys"] = ShellQuote(string.Join(' ', values.RootKeys.Select(k => k.ToBase64()))),
            ["BootstrapVersion"] = ShellQuote(values.BootstrapVersion),
            ["Builds"] = ShellQuote(string.Join(' ', builds.Select(b => b.Rid))),
            ["BuildTable"] = ShellQuote(table),
        };
        return ServiceTemplate.Fill(template, filled, new HashSet<string>(StringComparer.Ordinal));
    }

    /// <summary>
    /// <paramref name="value"/> as one sh word: single-quoted, each <c>'</c> written as
    /// <c>'\''</c>. Inside single quotes sh expands nothing ($, `, \, newlines are literal).
    /// </summary>
    public static string ShellQuote(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    /// <summary>
    /// The values for <paramref name="feedDirectory"/>: root.json verified against
    /// <paramref name="trustedRootKeys"/> (or, when none are given, against the root keys it lists),
    /// the channel manifest verified against root, and the bootstrappers of its newest release that
    /// has any for Linux or macOS, each file in the feed checked against the manifest's SHA-256 and size.
    /// </summary>
    public static InstallScriptValues FromFeed(string feedDirectory, string feedUrl, string channel,
        IReadOnlyList<MinisignPublicKey>? trustedRootKeys, DateTimeOffset now)
    {
        feedUrl = CheckFeedUrl(feedUrl);
        var feed = InstallerFeed.Read(feedDirectory, channel, trustedRootKeys, now);
        var release = feed.NewestWith(ScriptRids)
            ?? throw new BelayException($"no release on channel {channel} carries a bootstrapper for Linux or macOS; publish one with belay-release publish --bootstrap linux-x64=PATH (install.sh downloads it)");
        return new InstallScriptValues(feedUrl, channel, feed.RootKeys, release.Version, feed.Builds(release, ScriptRids, FileName));
    }

    /// <summary>Writes install.sh and install.sh.minisig (signed with <paramref name="key"/>) at the feed root, signature first, each atomically.</summary>
    public static string Write(string feedDirectory, string script, MinisignSecretKey key, DateTimeOffset now, string what) =>
        WriteSigned(feedDirectory, FileName, script, key, now, what);

    /// <summary>Writes an install script and its .minisig at the feed root, signature first, each atomically (install.sh and install.ps1).</summary>
    internal static string WriteSigned(string feedDirectory, string fileName, string script, MinisignSecretKey key, DateTimeOffset now, string what)
    {
        ArgumentNullException.ThrowIfNull(script);
        ArgumentNullException.ThrowIfNull(key);
        var path = System.IO.Path.Combine(System.IO.Path.GetFullPath(feedDirectory), fileName);
        var bytes = Encoding.UTF8.GetBytes(script);
        var comment = string.Create(CultureInfo.InvariantCulture, $"timestamp:{now.ToUnixTimeSeconds()}\tfile:{fileName}\t{what}");
        var signature = key.Sign(bytes, comment);
        AtomicFile.WriteAllBytes(path + FeedLayout.SignatureSuffix, Encoding.UTF8.GetBytes(signature.ToFileText()));
        AtomicFile.WriteAllBytes(path, bytes);
        return path;
    }

    internal static byte[] ReadSignature(string path)
    {
        var sigPath = path + FeedLayout.SignatureSuffix;
        return File.Exists(sigPath)
            ? File.ReadAllBytes(sigPath)
            : throw BelayException.Trust($"{sigPath} not found: {System.IO.Path.GetFileName(path)} is unsigned");
    }

    private static string CheckFeedUrl(string feedUrl) => CheckFeedUrl(feedUrl, UrlPattern());

    /// <summary>The feed URL with a trailing slash, or a usage error; <paramref name="allowed"/> is what the script's quoting can carry.</summary>
    /// <summary>
    /// The checks install.sh and install.ps1 share: the feed URL, the channel, at least one root key, the
    /// bootstrap version, and at least one bootstrapper, one per RID, each of the script's RIDs. Returns the
    /// URL and the builds in RID order.
    /// </summary>
    internal static (string Url, List<InstallScriptBuild> Builds) Check(InstallScriptValues values, string scriptName, Regex allowedUrl,
        IReadOnlySet<string> rids, string noBuildsHint)
    {
        var url = CheckFeedUrl(values.FeedUrl, allowedUrl);
        if (!FeedLayout.IsValidChannel(values.Channel))
        {
            throw new BelayException(ExitCodes.Usage, $"channel '{values.Channel}' is not a channel name (lower-case letters, digits, '.', '-', '_')");
        }
        if (values.RootKeys.Count == 0)
        {
            throw new BelayException(ExitCodes.Usage, $"{scriptName} needs at least one root key");
        }
        if (!SemVersion.TryParse(values.BootstrapVersion, out _, out var versionError))
        {
            throw new BelayException(ExitCodes.Usage, $"bootstrap version '{values.BootstrapVersion}': {versionError}");
        }
        if (values.Builds.Count == 0)
        {
            throw new BelayException($"{scriptName} needs at least one bootstrapper {noBuildsHint}");
        }
        var builds = values.Builds.OrderBy(b => b.Rid, StringComparer.Ordinal).ToList();
        foreach (var build in builds)
        {
            CheckBuild(build, scriptName, rids);
        }
        if (builds.Select(b => b.Rid).Distinct(StringComparer.Ordinal).Count() != builds.Count)
        {
            throw new BelayException(ExitCodes.Usage, $"{scriptName} got two bootstrappers for one RID");
        }
        return (url, builds);
    }

    internal static string CheckFeedUrl(string feedUrl, Regex allowed)
    {
        if (!Uri.TryCreate(feedUrl, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp)
            || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo)
            || !allowed.IsMatch(feedUrl))
        {
            throw new BelayException(ExitCodes.Usage, $"--url '{feedUrl}': give the feed's public address, like https://feed.example.com/ (no query, fragment or user name)");
        }
        return feedUrl.EndsWith('/') ? feedUrl : feedUrl + "/";
    }


    /// <summary>A bootstrapper entry a script can carry: one of its RIDs, a plain relative path, a lower-case SHA-256.</summary>
    internal static void CheckBuild(InstallScriptBuild build, string scriptName, IReadOnlySet<string> rids)
    {
        if (!rids.Contains(build.Rid))
        {
            throw new BelayException(ExitCodes.Usage, $"{scriptName} cannot offer '{build.Rid}': it offers {string.Join(", ", rids.Order(StringComparer.Ordinal))}");
        }
        if (!FeedLayout.IsSafeRelativePath(build.Path) || !PathPattern().IsMatch(build.Path))
        {
            throw new BelayException(ExitCodes.Usage, $"bootstrapper path '{build.Path}' for {build.Rid} is not a plain relative path in the feed");
        }
        if (!Sha256Pattern().IsMatch(build.Sha256))
        {
            throw new BelayException(ExitCodes.Usage, $"bootstrapper SHA-256 '{build.Sha256}' for {build.Rid} is not 64 lower-case hex digits");
        }
        if (build.Gzip is { } gz)
        {
            if (!FeedLayout.IsSafeRelativePath(gz.Path) || !PathPattern().IsMatch(gz.Path))
            {
                throw new BelayException(ExitCodes.Usage, $"gzip bootstrapper path '{gz.Path}' for {build.Rid} is not a plain relative path in the feed");
            }
            if (!Sha256Pattern().IsMatch(gz.Sha256))
            {
                throw new BelayException(ExitCodes.Usage, $"gzip bootstrapper SHA-256 '{gz.Sha256}' for {build.Rid} is not 64 lower-case hex digits");
            }
            if (gz.Size <= 0)
            {
                throw new BelayException(ExitCodes.Usage, $"bootstrapper size {gz.Size} for {build.Rid} is not a positive number of bytes");
            }
        }
    }

    // What a feed URL may hold in the script: printable ASCII without quotes, spaces or
    // backslashes (percent-encode anything else).
    [GeneratedRegex(@"^https?://[A-Za-z0-9._~:/\[\]@!$&()*+,;=%-]+\z", RegexOptions.CultureInvariant)]
    private static partial Regex UrlPattern();

    // The table in the script is split on whitespace and '|': paths hold neither.
    [GeneratedRegex(@"^[A-Za-z0-9._/+-]+\z", RegexOptions.CultureInvariant)]
    private static partial Regex PathPattern();

    [GeneratedRegex(@"^[0-9a-f]{64}\z", RegexOptions.CultureInvariant)]
    private static partial Regex Sha256Pattern();
}
