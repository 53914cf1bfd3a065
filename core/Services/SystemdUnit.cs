using System.Globalization;
using System.Text;
using Belay.Core.Install;

namespace Belay.Core.Services;

/// <summary>
/// The systemd unit of the keeper: <see cref="Render(ServiceDefinition)"/> fills
/// Services/Templates/belay.service.template (pure: it writes nothing) and
/// <see cref="Path"/> says where the unit goes. Every value is escaped as systemd.syntax(7)
/// and systemd.service(5) read it: specifiers (<c>%</c>) everywhere, variable expansion
/// (<c>$</c>) and quoting in ExecStart=, quoting in Environment=. Values systemd cannot carry
/// on one line (a newline in a path or a description) are refused rather than mangled.
/// The hardening block applies to the system scope only: a per-user manager cannot set up
/// those namespaces without PrivateUsers=. docs/service-managers.md explains each setting.
/// </summary>
public static class SystemdUnit
{
    public const string UnitName = "belay.service";
    internal const string TemplateFile = "belay.service.template";

    /// <summary>The unit file's mode: 0644, owned by root (system) or the user.</summary>
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>Renders the unit from the template embedded in Belay.Core.</summary>
    public static string Render(ServiceDefinition definition) => Render(definition, ServiceTemplate.Load(TemplateFile));

    internal static string Render(ServiceDefinition definition, string template)
    {
        ArgumentNullException.ThrowIfNull(definition);
        if (definition.CommandLine.Count == 0 || !System.IO.Path.IsPathFullyQualified(definition.CommandLine[0]))
        {
            throw new ArgumentException("the command line must start with an absolute executable path", nameof(definition));
        }
        if (definition.User is not null && definition.Scope == InstallScope.User)
        {
            throw new ArgumentException("a user unit runs as its user; User= applies to the system scope only", nameof(definition));
        }
        var system = definition.Scope == InstallScope.System;
        var values = new Dictionary<string, string>
        {
            ["Scope"] = system ? "system" : "user",
            ["Description"] = Specifiers(SingleLine(definition.Description, "description")),
            ["ExecStart"] = string.Join(' ', definition.CommandLine.Select(QuoteArgument)),
            ["WorkingDirectory"] = Specifiers(AbsolutePath(definition.WorkingDirectory, "working directory")),
            ["User"] = definition.User is { } user ? "User=" + Specifiers(UserName(user)) : "",
            ["Environment"] = string.Join('\n', definition.Environment
                .OrderBy(e => e.Key, StringComparer.Ordinal)
                .Select(e => "Environment=" + EnvironmentAssignment(e.Key, e.Value))),
            ["Restart"] = definition.Restart switch
            {
                RestartPolicy.Always => "always",
                RestartPolicy.OnFailure => "on-failure",
                RestartPolicy.Never => "no",
                _ => throw new ArgumentOutOfRangeException(nameof(definition), definition.Restart, "unknown restart policy"),
            },
            ["RestartSec"] = Seconds(definition.RestartDelaySeconds, "restart delay"),
            ["TimeoutStopSec"] = Seconds(definition.StopTimeoutSeconds, "stop timeout"),
            ["WantedBy"] = system ? "multi-user.target" : "default.target",
        };
        var sections = system ? new HashSet<string> { "system" } : new HashSet<string>();
        return ServiceTemplate.Fill(template, values, sections);
    }

    /// <summary>
    /// /etc/systemd/system/belay.service, or $XDG_CONFIG_HOME/systemd/user/belay.service
    /// (~/.config when XDG_CONFIG_HOME is unset or relative, as the XDG spec says).
    /// </summary>
    public static string Path(InstallScope scope, Func<string, string?>? environment = null)
    {
        if (scope == InstallScope.System)
        {
            return "/etc/systemd/system/" + UnitName;
        }
        var env = environment ?? Environment.GetEnvironmentVariable;
        var config = env("XDG_CONFIG_HOME") is { Length: > 0 } x && System.IO.Path.IsPathRooted(x)
            ? x
            : System.IO.Path.Combine(
                env("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile),
                ".config");
        return System.IO.Path.Combine(config, "systemd", "user", UnitName);
    }

    /// <summary>
    /// One ExecStart= word: C-style escapes for backslash, quotes and control characters,
    /// <c>%%</c> and <c>$$</c> so that neither specifiers nor variables expand, and double
    /// quotes around words with whitespace or quotes (or an empty word). A lone ";" would
    /// separate commands, so it is written <c>\;</c>.
    /// </summary>
    internal static string QuoteArgument(string argument)
    {
        ArgumentNullException.ThrowIfNull(argument);
        if (argument == ";")
        {
            return "\\;";
        }
        var quote = argument.Length == 0;
        var sb = new StringBuilder(argument.Length + 2);
        foreach (var c in argument)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '"': sb.Append("\\\""); quote = true; break;
                case '\'': sb.Append('\''); quote = true; break;
                case '%': sb.Append("%%"); break;
                case '$': sb.Append("$$"); break;
                case ' ': sb.Append(' '); quote = true; break;
                case '\t': sb.Append("\\t"); quote = true; break;
                case '\n': sb.Append("\\n"); quote = true; break;
                case '\r': sb.Append("\\r"); quote = true; break;
                case '\0': throw new ArgumentException("a command-line argument cannot contain NUL", nameof(argument));
                default:
                    if (char.IsControl(c))
                    {
                        sb.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
                        quote = true;
                    }
                    else
                    {
                        sb.Append(c);
                    }
                    break;
            }
        }
        return quote ? "\"" + sb + "\"" : sb.ToString();
    }

    /// <summary>A quoted <c>"NAME=value"</c> for Environment=: no $-expansion there, but specifiers and C escapes.</summary>
    internal static string EnvironmentAssignment(string name, string value)
    {
        if (name.Length == 0 || !(char.IsAsciiLetter(name[0]) || name[0] == '_') || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
        {
            throw new ArgumentException($"'{name}' is not a valid environment variable name", nameof(name));
        }
        var sb = new StringBuilder("\"").Append(name).Append('=');
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '"': sb.Append("\\\""); break;
                case '%': sb.Append("%%"); break;
                case '\t': sb.Append("\\t"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\0': throw new ArgumentException($"the value of {name} contains NUL", nameof(value));
                default:
                    if (char.IsControl(c))
                    {
                        sb.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
                    }
                    else
                    {
                        sb.Append(c);
                    }
                    break;
            }
        }
        return sb.Append('"').ToString();
    }

    private static string Specifiers(string value) => value.Replace("%", "%%", StringComparison.Ordinal);

    private static string SingleLine(string value, string what)
    {
        if (value.Any(char.IsControl) || value.Trim().Length != value.Length)
        {
            throw new ArgumentException($"the {what} must be one line without control characters or surrounding spaces: '{value}'");
        }
        return value;
    }

    private static string AbsolutePath(string value, string what) =>
        System.IO.Path.IsPathFullyQualified(SingleLine(value, what))
            ? value
            : throw new ArgumentException($"the {what} must be an absolute path: '{value}'");

    private static string UserName(string user) =>
        user.Length > 0 && !user.Any(c => char.IsWhiteSpace(c) || char.IsControl(c))
            ? user
            : throw new ArgumentException($"'{user}' is not a user name systemd accepts");

    private static string Seconds(int seconds, string what) =>
        seconds >= 0
            ? seconds.ToString(CultureInfo.InvariantCulture)
            : throw new ArgumentOutOfRangeException(nameof(seconds), seconds, $"the {what} cannot be negative");
}
