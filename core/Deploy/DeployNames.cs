using System.Text.RegularExpressions;

namespace Belay.Core.Deploy;

/// <summary>
/// The names a deployment uses, and what each may be. Group, app and version names become
/// parts of feed paths (groups/&lt;group&gt;.json, apps/&lt;app&gt;/&lt;version&gt;/…) and of folders on
/// every host (releases/&lt;app&gt;/&lt;version&gt;/), so they are kept to characters that are safe
/// in both on every OS, and to lower case for group and app names, since macOS and Windows
/// fold case and "Shop" and "shop" would be one folder there.
/// </summary>
public static partial class DeployNames
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

    public static bool IsValidGroup(string? name) => name is not null && NamePattern().IsMatch(name);

    public static bool IsValidApp(string? name) => name is not null && NamePattern().IsMatch(name);

    /// <summary>Any version token that is safe in a path; semantic versions are one kind. Versions are compared for equality only.</summary>
    public static bool IsValidVersion(string? version) => version is not null && VersionPattern().IsMatch(version);

    public static bool IsValidEnvName(string? name) =>
        name is not null && EnvPattern().IsMatch(name) && !name.StartsWith("BELAY_", StringComparison.OrdinalIgnoreCase);

    public static bool IsValidUser(string? name) => name is not null && UserPattern().IsMatch(name);

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,63}\\z")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[0-9A-Za-z][0-9A-Za-z._+-]{0,127}\\z")]
    private static partial Regex VersionPattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,127}\\z")]
    private static partial Regex EnvPattern();

    [GeneratedRegex("^[a-z_][a-z0-9_.-]{0,31}\\z")]
    private static partial Regex UserPattern();
}
