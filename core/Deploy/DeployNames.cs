using System.Buffers;

namespace Belay.Core.Deploy;

/// <summary>
/// The names a deployment uses, and what each may be. Group, app and version names become
/// parts of feed paths (groups/&lt;group&gt;.json, apps/&lt;app&gt;/&lt;version&gt;/…) and of folders on
/// every host (releases/&lt;app&gt;/&lt;version&gt;/), so they are kept to characters that are safe
/// in both on every OS, and to lower case for group and app names, since macOS and Windows
/// fold case and "Shop" and "shop" would be one folder there.
/// </summary>
public static class DeployNames
{
    /// <summary>The group a host joins when it is not told one.</summary>
    public const string DefaultGroup = "default";

    /// <summary>What a group name may be, in words, for error messages.</summary>
    public const string GroupRule = "1 to 64 lower-case letters, digits, '.', '_' and '-', starting with a letter or digit";

    /// <summary>What an app name may be, in words.</summary>
    public const string AppRule = GroupRule;

    /// <summary>What a version may be, in words.</summary>
    public const string VersionRule = "1 to 128 letters, digits, '.', '_', '+' and '-', starting with a letter or digit (like 2.7.1 or 2026.12.01-3f2a9c)";

    /// <summary>What an environment variable name may be, in words.</summary>
    public const string EnvRule = "a letter or '_' then letters, digits and '_' (at most 128), not starting with BELAY_ (Belay sets those for hooks)";

    /// <summary>What a user name may be, in words.</summary>
    public const string UserRule = "a POSIX user name: 1 to 32 lower-case letters, digits, '_', '.' and '-', starting with a letter or '_'";

    public static bool IsValidGroup(string? name) => Matches(name, NameFirst, NameRest, 64);

    public static bool IsValidApp(string? name) => Matches(name, NameFirst, NameRest, 64);

    /// <summary>Any version token that is safe in a path; semantic versions are one kind. Versions are compared for equality only.</summary>
    public static bool IsValidVersion(string? version) => Matches(version, VersionFirst, VersionRest, 128);

    public static bool IsValidEnvName(string? name) =>
        Matches(name, EnvFirst, EnvRest, 128) && !name.StartsWith("BELAY_", StringComparison.OrdinalIgnoreCase);

    public static bool IsValidUser(string? name) => Matches(name, UserFirst, UserRest, 32);

    // Hand-written rather than Regex: these run in the agent, and System.Text.RegularExpressions
    // costs the agent's binary about 1 MB (docs/architecture.md, "Footprint").
    private const string Lower = "abcdefghijklmnopqrstuvwxyz";
    private const string Upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    private const string Digits = "0123456789";
    private static readonly SearchValues<char> NameFirst = SearchValues.Create(Lower + Digits);
    private static readonly SearchValues<char> NameRest = SearchValues.Create(Lower + Digits + "._-");
    private static readonly SearchValues<char> VersionFirst = SearchValues.Create(Lower + Upper + Digits);
    private static readonly SearchValues<char> VersionRest = SearchValues.Create(Lower + Upper + Digits + "._+-");
    private static readonly SearchValues<char> EnvFirst = SearchValues.Create(Lower + Upper + "_");
    private static readonly SearchValues<char> EnvRest = SearchValues.Create(Lower + Upper + Digits + "_");
    private static readonly SearchValues<char> UserFirst = SearchValues.Create(Lower + "_");
    private static readonly SearchValues<char> UserRest = SearchValues.Create(Lower + Digits + "_.-");

    /// <summary>1 to <paramref name="max"/> characters: the first from <paramref name="first"/>, the others from <paramref name="rest"/>.</summary>
    private static bool Matches([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] string? text, SearchValues<char> first, SearchValues<char> rest, int max) =>
        text is { Length: > 0 } && text.Length <= max && first.Contains(text[0]) && !text.AsSpan(1).ContainsAnyExcept(rest);
}
