using System.Globalization;
using System.Text;
using System.Xml;
using Belay.Core.Install;

namespace Belay.Core.Services;

/// <summary>
/// The SMF (illumos, Solaris) manifest of the keeper: <see cref="Render(ServiceDefinition)"/>
/// fills Services/Templates/belay.smf.xml.template with <see cref="ServiceTemplate"/> (pure:
/// it writes nothing) and <see cref="Path"/> says where it goes. <see cref="SmfBackend"/>
/// writes it and runs svccfg/svcadm/svcs.
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
public static class SmfManifest
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

    /// <summary>
    /// The manifest's mode: 0444, as illumos packages deliver theirs (read-only, a sign not
    /// to edit it in place: <c>belay install</c> replaces it whole, and local changes belong
    /// in the repository with <c>svccfg</c>). Owned by root, since only root may install it.
    /// </summary>
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    internal const string TemplateFile = "belay.smf.xml.template";

    /// <summary>The manifest resource name (core/Belay.Core.csproj embeds Services/Templates/belay.smf.xml.template under it).</summary>
    public static readonly string TemplateResourceName = ServiceTemplate.ResourceName(TemplateFile);

    /// <summary>The manifest template, embedded in this assembly; null when the build did not embed it.</summary>
    public static string? EmbeddedTemplate { get; } = ServiceTemplate.TryLoad(TemplateFile);

    /// <summary>The manifest for <paramref name="definition"/>, from the embedded template.</summary>
    /// <exception cref="ArgumentException">The definition cannot be expressed in SMF (see <see cref="Render(ServiceDefinition, string)"/>).</exception>
    public static string Render(ServiceDefinition definition) =>
        Render(definition, EmbeddedTemplate ?? ServiceTemplate.Load(TemplateFile));

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
            ["ServiceName"] = Xml(ServiceName),
            ["InstanceName"] = Xml(InstanceName),
            ["WorkingDirectory"] = Xml(definition.WorkingDirectory),
            ["User"] = Xml(user),
            ["MethodEnvironment"] = MethodEnvironment(definition.Environment),
            ["StartExec"] = Xml(StartExec(definition)),
            ["StopTimeoutSeconds"] = definition.StopTimeoutSeconds.ToString(CultureInfo.InvariantCulture),
            ["Description"] = XmlText(definition.Description),
        };
        // ServiceTemplate inserts values as given and never rescans them, so a value that
        // happens to contain {{X}} stays literal; an empty MethodEnvironment drops its line.
        return ServiceTemplate.Fill(template, values, new HashSet<string>());
    }

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
        return block.Append("      </method_environment>").ToString();
    }
}
