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

/// <summary>What <see cref="InstallPowerShell.FromFeed"/> found on a channel: the values for install.ps1 (null when the channel has no Windows bootstrapper) and whether install.sh has builds to offer.</summary>
public sealed record InstallPowerShellSource(InstallScriptValues? Values, bool HasScriptBuilds);

/// <summary>
/// install.ps1, the PowerShell one-liner for Windows (docs/install.md). Like install.sh
/// (<see cref="InstallScript"/>), the script is data: the template (installers/install.ps1,
/// embedded in belay-release) is filled with one feed's values, each checked for its form and
/// then written as a single-quoted PowerShell string, so that no value can end a string or start
/// a command. The rendered script is ASCII (Windows PowerShell 5.1 reads a file without a byte
/// order mark in the ANSI code page).
/// </summary>
public static partial class InstallPowerShell
{
    public const string FileName = "install.ps1";

    /// <summary>The RIDs install.ps1 can choose.</summary>
    public static readonly IReadOnlySet<string> ScriptRids = new HashSet<string>(StringComparer.Ordinal) { "win-x64", "win-arm64" };

    /// <summary>The template filled with <paramref name="values"/>; throws on any value of the wrong form.</summary>
    public static string Render(string template, InstallScriptValues values)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(values);
        var (url, builds) = InstallScript.Check(values, FileName, UrlPattern(), ScriptRids, "for Windows; publish one with belay-release publish --bootstrap win-x64=PATH");
        var table = string.Join("\n", builds.Select(b =>
            $"                @{{ Rid = {Quote(b.Rid)}; Path = {Quote(b.Path)}; Sha256 = {Quote(b.Sha256)} }}"));
        var filled = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["FeedUrl"] = Quote(url),
            ["Channel"] = Quote(values.Channel),
            ["RootKeys"] = string.Join(", ", values.RootKeys.Select(k => Quote(k.ToBase64()))),
            ["BootstrapVersion"] = Quote(values.BootstrapVersion),
            ["BuildTable"] = table,
        };
        var script = ServiceTemplate.Fill(template, filled, new HashSet<string>(StringComparer.Ordinal));
        if (script.Any(c => c > 0x7e || (c < 0x20 && c != '\n' && c != '\t')))
        {
            throw new BelayException("install.ps1 must be printable ASCII (Windows PowerShell 5.1 reads it in the ANSI code page); the template or a value is not");
        }
        return script;
    }

    /// <summary>
    /// <paramref name="value"/> as a single-quoted PowerShell string. Inside single quotes
    /// PowerShell expands nothing; a quote is doubled, and PowerShell also takes the typographic
    /// single quotes (U+2018, U+2019, U+201A, U+201B) as quotes, so those are doubled too.
    /// </summary>
    public static string Quote(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var b = new StringBuilder(value.Length + 2).Append('\'');
        foreach (var c in value)
        {
            if (c is '\'' or '\u2018' or '\u2019' or '\u201A' or '\u201B')
            {
                b.Append(c);
            }
            b.Append(c);
        }
        return b.Append('\'').ToString();
    }

    /// <summary>
    /// The values for <paramref name="feedDirectory"/>, trusted as a host would: root.json verified
    /// against <paramref name="trustedRootKeys"/> (or the root keys it lists), the channel manifest
    /// against root; then the newest release with a Windows bootstrapper, each file in the feed
    /// checked against the manifest's SHA-256 and size. Values is null when no release has one.
    /// </summary>
    public static InstallPowerShellSource FromFeed(string feedDirectory, string feedUrl, string channel,
        IReadOnlyList<MinisignPublicKey>? trustedRootKeys, DateTimeOffset now)
    {
        feedUrl = CheckFeedUrl(feedUrl);
        var feed = InstallerFeed.Read(feedDirectory, channel, trustedRootKeys, now);
        var hasScriptBuilds = feed.NewestWith(InstallScript.ScriptRids) is not null;
        return feed.NewestWith(ScriptRids) is { } release
            ? new InstallPowerShellSource(new InstallScriptValues(feedUrl, channel, feed.RootKeys, release.Version, feed.Builds(release, ScriptRids, FileName)), hasScriptBuilds)
            : new InstallPowerShellSource(null, hasScriptBuilds);
    }

    /// <summary>Writes install.ps1 and install.ps1.minisig (signed with <paramref name="key"/>) at the feed root, signature first, each atomically.</summary>
    public static string Write(string feedDirectory, string script, MinisignSecretKey key, DateTimeOffset now, string what) =>
        InstallScript.WriteSigned(feedDirectory, FileName, script, key, now, what);

    private static string CheckFeedUrl(string feedUrl) => InstallScript.CheckFeedUrl(feedUrl, UrlPattern());


    // A feed URL in the script: printable ASCII without quotes, spaces, backslashes, backticks
    // or '$' (percent-encode anything else); single-quoted anyway.
    [GeneratedRegex(@"^https?://[A-Za-z0-9._~:/\[\]@!&()*+,;=%-]+\z", RegexOptions.CultureInvariant)]
    private static partial Regex UrlPattern();
}
