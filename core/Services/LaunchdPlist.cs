using System.Globalization;
using System.Text;
using Belay.Core.Install;

namespace Belay.Core.Services;

/// <summary>
/// The launchd property list of the keeper: <see cref="Render(ServiceDefinition)"/> fills
/// Services/Templates/com.belay.agent.plist.template (pure: it writes nothing) and
/// <see cref="Path"/> says where it goes. Every string is XML-escaped; characters XML 1.0
/// cannot carry are refused. The restart policy maps to KeepAlive (Always: true; OnFailure:
/// restart only after an unsuccessful exit; Never: false), the restart delay to
/// ThrottleInterval and the stop timeout to ExitTimeOut (SIGTERM, then SIGKILL after it).
/// launchd refuses a daemon plist that is group- or world-writable or not owned by root:
/// the installer writes it 0644 root:wheel (<see cref="FileMode"/>).
/// </summary>
public static class LaunchdPlist
{
    public const string Label = "com.belay.agent";
    internal const string TemplateFile = "com.belay.agent.plist.template";

    /// <summary>0644; owner root:wheel for a LaunchDaemon, the user for a LaunchAgent.</summary>
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private const string Indent = "    ";

    /// <summary>Renders the plist from the template embedded in Belay.Core.</summary>
    public static string Render(ServiceDefinition definition) => Render(definition, ServiceTemplate.Load(TemplateFile));

    internal static string Render(ServiceDefinition definition, string template)
    {
        ArgumentNullException.ThrowIfNull(definition);
        if (definition.CommandLine.Count == 0 || !definition.CommandLine[0].StartsWith('/'))
        {
            throw new ArgumentException("the command line must start with an absolute executable path", nameof(definition));
        }
        if (definition.User is not null && definition.Scope == InstallScope.User)
        {
            throw new ArgumentException("a LaunchAgent runs as its user; UserName applies to the system scope only", nameof(definition));
        }
        var values = new Dictionary<string, string>
        {
            ["Scope"] = definition.Scope == InstallScope.System ? "system" : "user",
            ["ProgramArguments"] = string.Join('\n', definition.CommandLine.Select(a => $"{Indent}{Indent}<string>{Escape(a)}</string>")),
            ["WorkingDirectory"] = Escape(definition.WorkingDirectory),
            ["UserName"] = definition.User is { } user ? KeyString("UserName", user) : "",
            ["EnvironmentVariables"] = string.Join('\n', definition.Environment
                .OrderBy(e => e.Key, StringComparer.Ordinal)
                .Select(e => $"{Indent}{Indent}<key>{Escape(e.Key)}</key>\n{Indent}{Indent}<string>{Escape(e.Value)}</string>")),
            ["KeepAlive"] = definition.Restart switch
            {
                RestartPolicy.Always => $"{Indent}<true/>",
                RestartPolicy.OnFailure => $"{Indent}<dict>\n{Indent}{Indent}<key>SuccessfulExit</key>\n{Indent}{Indent}<false/>\n{Indent}</dict>",
                RestartPolicy.Never => $"{Indent}<false/>",
                _ => throw new ArgumentOutOfRangeException(nameof(definition), definition.Restart, "unknown restart policy"),
            },
            ["ThrottleInterval"] = Seconds(definition.RestartDelaySeconds),
            ["ExitTimeOut"] = Seconds(definition.StopTimeoutSeconds),
            ["StandardOutPath"] = definition.StdoutLog.Length > 0 ? KeyString("StandardOutPath", definition.StdoutLog) : "",
            ["StandardErrorPath"] = definition.StderrLog.Length > 0 ? KeyString("StandardErrorPath", definition.StderrLog) : "",
        };
        return ServiceTemplate.Fill(template, values, new HashSet<string>());
    }

    /// <summary>/Library/LaunchDaemons/com.belay.agent.plist, or ~/Library/LaunchAgents/com.belay.agent.plist.</summary>
    public static string Path(InstallScope scope, Func<string, string?>? environment = null)
    {
        if (scope == InstallScope.System)
        {
            return "/Library/LaunchDaemons/" + Label + ".plist";
        }
        var env = environment ?? Environment.GetEnvironmentVariable;
        var home = env("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return System.IO.Path.Combine(home, "Library", "LaunchAgents", Label + ".plist");
    }

    /// <summary>
    /// Text for an XML element: &amp;, &lt; and &gt; as entities, a carriage return as a
    /// character reference (a parser would turn a literal one into a line feed); other
    /// characters outside XML 1.0's Char production are refused.
    /// </summary>
    internal static string Escape(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sb = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            switch (c)
            {
                case '&': sb.Append("&amp;"); break;
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '\r': sb.Append("&#13;"); break;
                case '\t' or '\n': sb.Append(c); break;
                default:
                    if (c < 0x20 || c is '\uFFFE' or '\uFFFF')
                    {
                        throw new ArgumentException($"U+{(int)c:X4} cannot appear in a property list", nameof(text));
                    }
                    if (char.IsSurrogate(c))
                    {
                        if (!char.IsSurrogatePair(text, i))
                        {
                            throw new ArgumentException("a lone surrogate cannot appear in a property list", nameof(text));
                        }
                        sb.Append(c).Append(text[++i]);
                        break;
                    }
                    sb.Append(c);
                    break;
            }
        }
        return sb.ToString();
    }

    private static string KeyString(string key, string value) =>
        $"{Indent}<key>{key}</key>\n{Indent}<string>{Escape(value)}</string>";

    private static string Seconds(int seconds) =>
        seconds >= 0
            ? seconds.ToString(CultureInfo.InvariantCulture)
            : throw new ArgumentOutOfRangeException(nameof(seconds), seconds, "cannot be negative");
}
