using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml;
using Belay.Core.Install;

namespace Belay.Core.Services;

/// <summary>
/// The SMF (illumos, Solaris) backend's definition: the manifest for the keeper and the
/// commands that install, remove and inspect it. Everything here is pure; a runner writes
/// <see cref="Path"/> and runs <see cref="Commands"/> in order.
/// <para>
/// Install: write the manifest to <see cref="Path"/>, <c>svccfg validate</c> it,
/// <c>svccfg import</c> it (the instance arrives disabled), then <c>svcadm enable -s</c>,
/// which waits until the instance is online, or returns early when it cannot get there
/// (maintenance). Uninstall: <c>svcadm disable -s</c> (runs the stop method and waits),
/// <c>svccfg delete</c> the service, then the runner removes <see cref="Path"/> so that
/// manifest-import does not import it again at the next boot.
/// </para>
/// <para>
/// Hazards. The keeper stays in the foreground, so the service is <c>duration=child</c>
/// (svc.startd waits on the start method's process and restarts it when it exits; start
/// timeouts do not apply to it); with the default <c>contract</c> model startd would wait
/// for the start method to return and put the service in maintenance after 60 seconds.
/// The agent runs inside the keeper's process contract, and for child services
/// svc.startd makes contract events fatal: without <c>ignore_error=core,signal</c> an
/// agent that dumps core, or that an operator kills, would take the whole contract, and
/// so the keeper that should roll it back, down with it. The stop method <c>:kill</c>
/// sends SIGTERM to every process in the contract at once, agent included, and SIGKILL
/// after <see cref="ServiceDefinition.StopTimeoutSeconds"/>.
/// </para>
/// </summary>
public static partial class SmfManifest
{
    /// <summary>
    /// The SMF service, as issue 4 names it (<c>svc:/application/belay/agent</c>) and as
    /// <see cref="ServiceDefinition.Name"/> documents it; SMF needs a service name of this
    /// form, so the backend uses this constant rather than the systemd-style default name.
    /// </summary>
    public const string ServiceName = "application/belay/agent";

    /// <summary>The one instance, <c>default</c>, as SMF names a single-instance service's instance (network/ssh:default).</summary>
    public const string InstanceName = "default";

    /// <summary>The service FMRI: what <c>svccfg delete</c> removes, together with its instance.</summary>
    public const string ServiceFmri = "svc:/" + ServiceName;

    /// <summary>The instance FMRI: what is enabled, disabled, queried and cleared.</summary>
    public const string Fmri = ServiceFmri + ":" + InstanceName;

    /// <summary>
    /// Where the manifest is written: the place for manifests an application delivers,
    /// which manifest-import reads at boot. <c>/var/svc/manifest/site</c> is the
    /// administrator's own, for local customisation; a product should not write there.
    /// </summary>
    public const string Path = "/var/svc/manifest/application/belay.xml";

    /// <summary>The manifest resource name (core/Belay.Core.csproj embeds Services/Templates/belay.smf.xml.template under it).</summary>
    public const string TemplateResourceName = "Belay.Core.Services.Templates.belay.smf.xml.template";

    /// <summary>The manifest template, embedded in this assembly; null when the build did not embed it.</summary>
    public static string? EmbeddedTemplate { get; } = ReadEmbeddedTemplate();

    /// <summary>The manifest for <paramref name="definition"/>, from the embedded template.</summary>
    /// <exception cref="ArgumentException">The definition cannot be expressed in SMF (see <see cref="Render(ServiceDefinition, string)"/>).</exception>
    public static string Render(ServiceDefinition definition) =>
        Render(definition, EmbeddedTemplate ?? throw new InvalidOperationException(
            $"the SMF manifest template is not embedded in {typeof(SmfManifest).Assembly.GetName().Name} (resource {TemplateResourceName})"));

    /// <summary>
    /// Fills <paramref name="template"/> for <paramref name="definition"/>. Every value is
    /// XML-escaped; the command line is also quoted for the shell and for SMF's method tokens.
    /// <see cref="ServiceDefinition.Restart"/> <c>Always</c> and <c>OnFailure</c> both become
    /// svc.startd's restart of a child that exits; <c>Never</c> cannot be expressed for a
    /// foreground keeper and is refused, as is a user-scope definition without a user (SMF
    /// has no per-user services). <see cref="ServiceDefinition.RestartDelaySeconds"/> has no
    /// SMF equivalent (svc.startd throttles and goes to maintenance on its own).
    /// </summary>
    internal static string Render(ServiceDefinition definition, string template)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(template);
        if (definition.CommandLine.Count == 0)
        {
            throw new ArgumentException("the command line is empty", nameof(definition));
        }
        if (definition.Restart == RestartPolicy.Never)
        {
            throw new ArgumentException("SMF restarts a child service whenever it exits; RestartPolicy.Never cannot be expressed", nameof(definition));
        }
        if (definition.StopTimeoutSeconds < 1)
        {
            throw new ArgumentException("the stop timeout must be at least one second (0 means no timeout to SMF)", nameof(definition));
        }
        var user = definition.User
            ?? (definition.Scope == InstallScope.System
                ? "root"
                : throw new ArgumentException("SMF has no per-user services: a user-scope definition must name its user", nameof(definition)));

        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["SERVICE_NAME"] = Xml(ServiceName),
            ["INSTANCE_NAME"] = Xml(InstanceName),
            ["WORKING_DIRECTORY"] = Xml(definition.WorkingDirectory),
            ["USER"] = Xml(user),
            ["METHOD_ENVIRONMENT"] = MethodEnvironment(definition.Environment),
            ["START_EXEC"] = Xml(StartExec(definition)),
            ["STOP_TIMEOUT_SECONDS"] = definition.StopTimeoutSeconds.ToString(CultureInfo.InvariantCulture),
            ["DESCRIPTION"] = XmlText(definition.Description),
        };
        // One pass, so that a value that happens to contain {{X}} is never filled in again.
        return Placeholder().Replace(template, m => values.TryGetValue(m.Groups[1].Value, out var v)
            ? v
            : throw new FormatException($"the SMF template has an unknown placeholder {m.Value}"));
    }

    /// <summary>
    /// The commands for <paramref name="operation"/>, in order, each as argv (tool first).
    /// The runner writes the manifest to <see cref="Path"/> before the install commands
    /// and removes it after the uninstall commands.
    /// </summary>
    public static IReadOnlyList<string[]> Commands(SmfOperation operation) => operation switch
    {
        SmfOperation.Install =>
        [
            ["svccfg", "validate", Path],
            ["svccfg", "import", Path],
            ["svcadm", "enable", "-s", Fmri],
        ],
        SmfOperation.Uninstall =>
        [
            ["svcadm", "disable", "-s", Fmri],
            ["svccfg", "delete", ServiceFmri],
        ],
        SmfOperation.Status => [["svcs", "-H", "-o", "state", Fmri]],
        SmfOperation.Clear => [["svcadm", "clear", Fmri]],
        _ => throw new ArgumentOutOfRangeException(nameof(operation), operation, null),
    };

    /// <summary>
    /// The start method's exec string. svc.startd runs <c>/bin/sh -c "exec " + exec</c>
    /// after expanding its %-tokens, so each argument is single-quoted for the shell and
    /// every % doubled. Output goes to the model's log files when it names them (otherwise
    /// to the instance's SMF log, <c>svcs -L</c>).
    /// </summary>
    internal static string StartExec(ServiceDefinition definition)
    {
        var exec = new StringBuilder();
        foreach (var argument in definition.CommandLine)
        {
            if (exec.Length > 0)
            {
                exec.Append(' ');
            }
            exec.Append(ShellQuote(argument));
        }
        if (definition.StdoutLog.Length > 0)
        {
            exec.Append(" >>").Append(ShellQuote(definition.StdoutLog));
        }
        if (definition.StderrLog.Length > 0)
        {
            exec.Append(definition.StderrLog == definition.StdoutLog ? " 2>&1" : " 2>>" + ShellQuote(definition.StderrLog));
        }
        return exec.ToString().Replace("%", "%%", StringComparison.Ordinal);
    }

    /// <summary>A POSIX shell word that is exactly <paramref name="value"/>.</summary>
    internal static string ShellQuote(string value) =>
        "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>
    /// Escaped for a double-quoted XML attribute value. Line breaks and tabs become
    /// character references, which attribute-value normalisation leaves alone; ' and &gt;
    /// stay as they are, so that a quoted command line still reads as one.
    /// </summary>
    internal static string Xml(string value) => Escape(value, attribute: true);

    /// <summary>Escaped for XML character data.</summary>
    internal static string XmlText(string value) => Escape(value, attribute: false);

    private static string Escape(string value, bool attribute)
    {
        try
        {
            XmlConvert.VerifyXmlChars(value);
        }
        catch (XmlException e)
        {
            throw new ArgumentException($"'{value}' has a character XML cannot carry", nameof(value), e);
        }
        var escaped = new StringBuilder(value.Length);
        foreach (var c in value)
        {
            _ = c switch
            {
                '&' => escaped.Append("&amp;"),
                '<' => escaped.Append("&lt;"),
                '>' when !attribute => escaped.Append("&gt;"),
                '"' when attribute => escaped.Append("&quot;"),
                '\n' when attribute => escaped.Append("&#10;"),
                '\r' => escaped.Append("&#13;"),
                '\t' when attribute => escaped.Append("&#9;"),
                _ => escaped.Append(c),
            };
        }
        return escaped.ToString();
    }

    private static string MethodEnvironment(IReadOnlyDictionary<string, string> environment)
    {
        // method_environment must hold at least one envvar, so no variables means no element.
        if (environment.Count == 0)
        {
            return "";
        }
        var block = new StringBuilder("      <method_environment>\n");
        foreach (var (name, value) in environment.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            if (name.Length == 0 || name.Contains('=', StringComparison.Ordinal))
            {
                throw new ArgumentException($"'{name}' is not an environment variable name", nameof(environment));
            }
            block.Append("        <envvar name=\"").Append(Xml(name)).Append("\" value=\"").Append(Xml(value)).Append("\"/>\n");
        }
        return block.Append("      </method_environment>\n").ToString();
    }

    private static string? ReadEmbeddedTemplate()
    {
        using var stream = typeof(SmfManifest).Assembly.GetManifestResourceStream(TemplateResourceName);
        if (stream is null)
        {
            return null;
        }
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    [GeneratedRegex(@"\{\{([A-Z_]+)\}\}", RegexOptions.CultureInvariant)]
    private static partial Regex Placeholder();
}
