using System.Security.Cryptography;
using System.Text;
using Belay.Core.Programs;

namespace Belay.Core.Deploy;

/// <summary>
/// A release made ready to run: its belay-app.conf, the app's environment (belay-app.conf's
/// defaults, then the group document's values, secrets decrypted) and what follows from them,
/// the supervised process's definition and each hook's invocation. Lives in memory only:
/// decrypted values are never written anywhere but into a child's environment.
/// </summary>
public sealed record ResolvedRelease
{
    public required string App { get; init; }
    public required string Version { get; init; }

    /// <summary>The folder the release runs from (releases/&lt;app&gt;/&lt;version&gt;, or the private folder before unpack).</summary>
    public required string Directory { get; init; }
    public required AppConfig Config { get; init; }
    public required AppSettings Settings { get; init; }
    public required string Group { get; init; }

    /// <summary>The app's own variables, in order: belay-app.conf's environment overridden key by key by the group document's env.</summary>
    public required IReadOnlyList<KeyValuePair<string, string>> Environment { get; init; }

    /// <summary>The names of the variables that came from secrets.</summary>
    public IReadOnlySet<string> SecretKeys { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>The decrypted values, for redaction.</summary>
    public IReadOnlyList<string> SecretValues { get; init; } = [];

    /// <summary>The user it runs as: the group document's, else belay-app.conf's, else the agent's.</summary>
    public string? User => Settings.User ?? Config.User;

    public string Revision => AppTarget.ComputeRevision(Version, Settings);

    /// <summary>Reads the release's config from <paramref name="directory"/> and resolves its environment.</summary>
    /// <exception cref="AppConfigException">belay-app.conf is missing or wrong.</exception>
    /// <exception cref="SecretException">A secret does not decrypt.</exception>
    public static ResolvedRelease Load(string app, string version, string directory, AppSettings settings, string group, ISecretResolver secrets)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(secrets);
        var config = AppConfig.Load(directory);
        var values = secrets.Resolve(app, settings);
        var secretKeys = settings.Env.Where(e => e.IsSecret).Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        var environment = config.Environment.Where(e => !values.ContainsKey(e.Key)).ToList();
        environment.AddRange(settings.Env.Select(e => new KeyValuePair<string, string>(e.Name, values.TryGetValue(e.Name, out var v) ? v : e.Value ?? "")));
        return new ResolvedRelease
        {
            App = app,
            Version = version,
            Directory = directory,
            Config = config,
            Settings = settings,
            Group = group,
            Environment = environment,
            SecretKeys = secretKeys,
            SecretValues = [.. secretKeys.Select(k => values.TryGetValue(k, out var v) ? v : "").Where(v => v.Length > 0)],
        };
    }

    /// <summary>The same release read from another folder (pre_install runs from the private folder; the rest from the release folder).</summary>
    public ResolvedRelease At(string directory) => this with { Directory = directory };

    /// <summary>The variables Belay sets for the app and every hook.</summary>
    private IEnumerable<KeyValuePair<string, string>> BelayVariables() =>
    [
        new("BELAY_APP", App),
        new("BELAY_VERSION", Version),
        new("BELAY_RELEASE_DIR", Directory),
        new("BELAY_GROUP", Group),
    ];

    /// <summary>The supervised process: the release's exec from its folder, as a program of its own ("@APP").</summary>
    public ProgramDefinition Definition()
    {
        var c = Config;
        return new ProgramDefinition
        {
            Name = AppPaths.Unit(App),
            Command = AppConfig.ResolveCommand(c.Exec, Directory),
            Environment = [.. BelayVariables(), .. Environment],
            Directory = Path.GetFullPath(Path.Combine(Directory, c.Directory)),
            User = User,
            Group = c.Group,
            Restart = c.Restart,
            Autostart = true,
            BackoffInitial = c.BackoffInitial,
            BackoffMax = c.BackoffMax,
            StartTimeout = c.StartTimeout,
            StopSignal = c.StopSignal,
            StopTimeout = c.StopTimeout,
            LogMaxBytes = c.LogMaxBytes,
            LogBackups = c.LogBackups,
            RedirectStderr = c.RedirectStderr,
            FatalAfter = c.FatalAfter,
            FatalWindow = c.FatalWindow,
            SecretKeys = SecretKeys,
            Identity = Identity,
        };
    }

    /// <summary>Names what the process is made from without its secret values: app, version, settings as published, group, folder.</summary>
    public string Identity
    {
        get
        {
            var text = $"app\0{App}\0{Version}\0{Revision}\0{Group}\0{Directory}";
            return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
        }
    }

    /// <summary>The invocation of <paramref name="hook"/>: from the release's folder, with BELAY_STEP, BELAY_PREVIOUS_VERSION and BELAY_TARGET_VERSION.</summary>
    /// <param name="previous">The release installed when the deploy began (empty when none).</param>
    /// <param name="target">The version the deploy installs (for the stop hooks of the release it replaces).</param>
    public HookRun Hook(AppHook hook, string? previous, string target)
    {
        ArgumentNullException.ThrowIfNull(hook);
        return Run(AppConfig.ResolveHook(hook, Directory), hook.Key, hook.Timeout, previous, target, log: true);
    }

    /// <summary>The health gate's command probe.</summary>
    public HookRun HealthCommand(string? previous) =>
        Run(AppConfig.ResolveCommand(Config.Health.Command, Directory), "health", Config.Health.Timeout, previous, Version, log: false);

    private HookRun Run(IReadOnlyList<string> command, string step, TimeSpan timeout, string? previous, string target, bool log)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in Environment)
        {
            environment[key] = value;
        }
        foreach (var (key, value) in BelayVariables())
        {
            environment[key] = value;
        }
        environment["BELAY_STEP"] = step;
        environment["BELAY_PREVIOUS_VERSION"] = previous ?? "";
        environment["BELAY_TARGET_VERSION"] = target;
        return new HookRun
        {
            App = App,
            Step = step,
            Command = command,
            Directory = Directory,
            User = User,
            Group = Config.Group,
            Environment = environment,
            Timeout = timeout,
            Redact = SecretValues,
            Log = log,
        };
    }
}
