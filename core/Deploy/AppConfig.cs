using System.Globalization;
using System.Text;
using Belay.Core.Programs;

namespace Belay.Core.Deploy;

/// <summary>A hook of belay-app.conf's [hooks] section, in the order of an app's life.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(Belay.Core.IO.EnumNameConverter<HookKind>))]
public enum HookKind
{
    PreInstall,
    PostInstall,
    PreStart,
    PostStart,
    PreStop,
    PostStop,
    Uninstall,
}

/// <summary>What the health gate asks of a new release besides its process staying up.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(Belay.Core.IO.EnumNameConverter<HealthKind>))]
public enum HealthKind
{
    /// <summary>No probe: the process staying up for healthy_for is the gate.</summary>
    Process,

    /// <summary>GET a URL; any 2xx answer within timeout is healthy.</summary>
    Http,

    /// <summary>A TCP connection to HOST:PORT accepted within timeout is healthy.</summary>
    Tcp,

    /// <summary>A command exiting 0 within timeout is healthy.</summary>
    Command,
}

/// <summary>One hook: a file inside the release (its first word) with arguments, and its own timeout.</summary>
public sealed record AppHook(HookKind Kind, IReadOnlyList<string> Command, TimeSpan Timeout, int Line)
{
    /// <summary>The key that names it in belay-app.conf, and BELAY_STEP while it runs.</summary>
    public string Key => AppConfig.HookKey(Kind);
}

/// <summary>The [health] section: a probe (or none) and the gate's timing.</summary>
public sealed record HealthCheck
{
    public HealthKind Kind { get; init; } = HealthKind.Process;

    /// <summary>The URL (http), HOST:PORT (tcp), or empty.</summary>
    public string Target { get; init; } = "";

    /// <summary>The command (command), else empty.</summary>
    public IReadOnlyList<string> Command { get; init; } = [];

    /// <summary>Time between the starts of two probes.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long one probe may take before it counts as failed.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long the release must stay healthy, without a break, to pass.</summary>
    public TimeSpan HealthyFor { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long from the gate's start the release has to pass; then the deploy fails.</summary>
    public TimeSpan Deadline { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>What the probe is, for logs and reports.</summary>
    public string Describe() => Kind switch
    {
        HealthKind.Http => $"http {Target}",
        HealthKind.Tcp => $"tcp {Target}",
        HealthKind.Command => $"command {string.Join(' ', Command)}",
        _ => "the process staying up",
    };
}

/// <summary>
/// belay-app.conf, the file at the top of an app archive that says how the release runs
/// (DESIGN.md, "Deployments"): the INI shape of programs.conf, three sections.
/// <code>
/// [app]
/// exec = bin/shop --port 8080     # the foreground command, supervised exactly as a program
/// stop_signal = TERM
/// stop_timeout = 10s
/// keep_releases = 3
///
/// [hooks]
/// pre_install = hooks/check-host.sh          # paths inside the release, each with its own timeout
/// post_install = hooks/migrate.sh --quick
/// post_install_timeout = 10m
///
/// [health]
/// http = http://127.0.0.1:${PORT}/health     # ${NAME}: a plain variable of the app's environment
/// healthy_for = 10s
/// deadline = 2m
/// </code>
/// Parsed by hand (no reflection, AOT-safe), as programs.conf: every error names the file,
/// the line and the key, and the whole file is refused. The desired state (the group
/// document) says which release runs with what environment; this file says how it runs. The
/// group document's `user` wins over <see cref="User"/>, and its `env` over
/// <see cref="Environment"/> key by key.
/// </summary>
public sealed record AppConfig
{
    public const string FileName = "belay-app.conf";

    /// <summary>The default of every hook's timeout, and of [hooks] timeout.</summary>
    public static readonly TimeSpan DefaultHookTimeout = TimeSpan.FromMinutes(5);

    public static IReadOnlyList<string> AppKeys { get; } =
    [
        "exec", "environment", "directory", "user", "group", "restart", "backoff_initial", "backoff_max", "start_timeout", "stop_signal",
        "stop_timeout", "keep_releases", "log_max_bytes", "log_backups", "redirect_stderr", "fatal_after", "fatal_window",
    ];

    public static IReadOnlyList<string> HookKeys { get; } = [.. Enum.GetValues<HookKind>().Select(HookKey)];

    public static IReadOnlyList<string> HealthKeys { get; } = ["http", "tcp", "command", "interval", "timeout", "healthy_for", "deadline"];

    /// <summary>The foreground command: a first word with a '/' that is not absolute is a path inside the release; a bare name is searched on PATH.</summary>
    public required IReadOnlyList<string> Exec { get; init; }

    /// <summary>Defaults for the app's environment; the group document's env wins key by key.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Environment { get; init; } = [];

    /// <summary>The working directory, relative to the release folder ("." is the release folder itself).</summary>
    public string Directory { get; init; } = ".";

    public string? User { get; init; }
    public string? Group { get; init; }
    public RestartPolicy Restart { get; init; } = RestartPolicy.Always;
    public TimeSpan BackoffInitial { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan BackoffMax { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(1);
    public int StopSignal { get; init; } = 15;
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Release folders kept on disk (the newest ones); the current and the previous release are never removed.</summary>
    public int KeepReleases { get; init; } = 3;

    public long LogMaxBytes { get; init; } = 10 * 1024 * 1024;
    public int LogBackups { get; init; } = 5;
    public bool RedirectStderr { get; init; }
    public int FatalAfter { get; init; } = 5;
    public TimeSpan FatalWindow { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The hooks the release has, by kind.</summary>
    public IReadOnlyDictionary<HookKind, AppHook> Hooks { get; init; } = new Dictionary<HookKind, AppHook>();

    public HealthCheck Health { get; init; } = new();

    /// <summary>The line of exec, and of the health command, for errors found in the release.</summary>
    public int ExecLine { get; init; }

    public int HealthLine { get; init; }

    /// <summary>Where the file was read from, for errors found later (a hook file missing from the release).</summary>
    public string Source { get; init; } = FileName;

    public AppHook? Hook(HookKind kind) => Hooks.TryGetValue(kind, out var hook) ? hook : null;

    /// <summary>pre_install, post_install, …: the key of a hook kind.</summary>
    public static string HookKey(HookKind kind) => kind switch
    {
        HookKind.PreInstall => "pre_install",
        HookKind.PostInstall => "post_install",
        HookKind.PreStart => "pre_start",
        HookKind.PostStart => "post_start",
        HookKind.PreStop => "pre_stop",
        HookKind.PostStop => "post_stop",
        HookKind.Uninstall => "uninstall",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>Reads DIR/belay-app.conf.</summary>
    /// <exception cref="AppConfigException">The file is missing or has an error (file, line, key).</exception>
    public static AppConfig Load(string releaseDir)
    {
        var path = Path.Combine(releaseDir, FileName);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new AppConfigException($"{path}: missing; an app archive carries its {FileName} at its top ([app] exec = …)");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AppConfigException($"{path}: cannot read it: {e.Message}");
        }
        return Parse(text, path);
    }

    /// <summary>Parses the text of a belay-app.conf; <paramref name="source"/> names it in errors.</summary>
    public static AppConfig Parse(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(source);
        IniError error = (line, key, problem) => Error(source, line, key, problem);
        var format = new IniFile.Format(
            "[app]",
            "any section ([app], [hooks] or [health])",
            (header, line, earlier) =>
            {
                if (header is not ("app" or "hooks" or "health"))
                {
                    throw error(line, null, $"[{header}] is not a section of {FileName}; it has [app], [hooks] and [health]");
                }
                if (earlier.FirstOrDefault(s => s.Name == header) is { } first)
                {
                    throw error(line, null, $"[{header}] is already on line {first.Line}");
                }
                return header;
            },
            UnknownKey);
        var sections = IniFile.Read(text, format, error).ToDictionary(s => s.Name, StringComparer.Ordinal);
        if (!sections.TryGetValue("app", out var app))
        {
            throw Error(source, 1, null, $"no [app] section; {FileName} needs at least [app] with exec = …");
        }
        var config = BuildApp(app);
        if (sections.TryGetValue("hooks", out var hooks))
        {
            config = config with { Hooks = BuildHooks(hooks) };
        }
        if (sections.TryGetValue("health", out var health))
        {
            config = config with { Health = BuildHealth(health), HealthLine = health.LineOf("command") };
        }
        return config with { Source = source };
    }

    private static string? UnknownKey(IniSection section, string key)
    {
        IReadOnlyList<string> known = section.Name switch
        {
            "app" => AppKeys,
            "hooks" => [.. HookKeys, "timeout", .. HookKeys.Select(k => k + "_timeout")],
            _ => HealthKeys,
        };
        if (known.Contains(key))
        {
            return null;
        }
        var listed = section.Name == "hooks" ? [.. HookKeys, "timeout", "<hook>_timeout"] : known;
        return $"unknown setting in [{section.Name}] (known: {string.Join(", ", listed)})";
    }

    /// <summary>
    /// Checks the files this config names against an unpacked release: every hook, a relative
    /// exec and a relative health command must be a regular file inside it, executable (a Unix
    /// target) or of a kind Windows runs (<paramref name="forWindows"/>: <see cref="WindowsHookCommand"/>;
    /// by default the system this runs on). Returns the problems (file, line, key), none when the release is complete.
    /// </summary>
    public IReadOnlyList<string> CheckRelease(string releaseDir, bool? forWindows = null)
    {
        ArgumentNullException.ThrowIfNull(releaseDir);
        var windows = forWindows ?? OperatingSystem.IsWindows();
        var problems = new List<string>();
        void Check(string key, int line, string relative, bool runner)
        {
            var full = Path.GetFullPath(Path.Combine(releaseDir, relative));
            if (!File.Exists(full))
            {
                problems.Add($"{Source}:{line}: {key}: {relative} is not in the release");
            }
            else if (windows && runner && !WindowsHookCommand.Runnable.Contains(Path.GetExtension(relative).ToLowerInvariant()))
            {
                problems.Add($"{Source}:{line}: {key}: {relative} cannot run on Windows (a hook or health command there is a .exe, .com, .cmd, .bat or .ps1 file)");
            }
            else if (!windows && !OperatingSystem.IsWindows() && (File.GetUnixFileMode(full) & UnixFileMode.UserExecute) == 0)
            {
                problems.Add($"{Source}:{line}: {key}: {relative} is not executable (chmod +x it before packaging)");
            }
        }
        if (IsReleasePath(Exec[0]))
        {
            Check("exec", ExecLine, Exec[0], runner: false);
        }
        foreach (var hook in Hooks.Values.OrderBy(h => h.Kind))
        {
            Check(hook.Key, hook.Line, hook.Command[0], runner: true);
        }
        if (Health.Kind == HealthKind.Command && IsReleasePath(Health.Command[0]))
        {
            Check("command", HealthLine, Health.Command[0], runner: true);
        }
        return problems;
    }

    /// <summary>
    /// The exec or health command with its first word made absolute when it is a path inside
    /// the release (a '/' in it, not absolute); bare names stay for the PATH search.
    /// </summary>
    public static IReadOnlyList<string> ResolveCommand(IReadOnlyList<string> command, string releaseDir)
    {
        ArgumentNullException.ThrowIfNull(command);
        return IsReleasePath(command[0]) ? [Path.Combine(releaseDir, command[0]), .. command.Skip(1)] : command;
    }

    /// <summary>A hook's command: its first word is always a path inside the release.</summary>
    public static IReadOnlyList<string> ResolveHook(AppHook hook, string releaseDir)
    {
        ArgumentNullException.ThrowIfNull(hook);
        return [Path.Combine(releaseDir, hook.Command[0]), .. hook.Command.Skip(1)];
    }

    private static bool IsReleasePath(string word) => word.Contains('/', StringComparison.Ordinal) && !Path.IsPathRooted(word);

    /// <summary>A relative path that stays inside the release: no leading '/', no '..' part, not empty.</summary>
    private static bool StaysInside(string path) =>
        path.Length > 0 && !Path.IsPathRooted(path) && !path.StartsWith('~')
        && path.Split('/').All(part => part is not "..");

    private static AppConfig BuildApp(IniSection s)
    {
        if (s.Get("exec") is not { } execText)
        {
            throw s.Missing("exec", "[app] has no exec (the command that runs the release, in the foreground)");
        }
        var exec = Words(s, "exec", execText);
        if (IsReleasePath(exec[0]) && !StaysInside(exec[0]))
        {
            throw s.Fail("exec", $"'{exec[0]}' leaves the release folder; name a path inside it, an absolute path, or a program on PATH");
        }
        var environment = s.Environment("environment");
        var directory = s.Get("directory") ?? ".";
        if (!StaysInside(directory))
        {
            throw s.Fail("directory", $"'{directory}' is not a folder inside the release (a relative path without '..'; '.' is the release itself)");
        }
        var restart = s.Restart("restart");
        var redirectStderr = s.Flag("redirect_stderr", fallback: false);
        var defaults = new AppConfig { Exec = exec };
        var (backoffInitial, backoffMax) = s.Backoff(defaults.BackoffInitial, defaults.BackoffMax);
        var stopSignal = s.Signal("stop_signal", defaults.StopSignal);
        var logMax = s.LogSize("log_max_bytes", defaults.LogMaxBytes);
        return defaults with
        {
            ExecLine = s.LineOf("exec"),
            Environment = environment,
            Directory = directory,
            User = NonEmpty(s.Get("user")),
            Group = NonEmpty(s.Get("group")),
            Restart = restart,
            BackoffInitial = backoffInitial,
            BackoffMax = backoffMax,
            StartTimeout = s.Duration("start_timeout", defaults.StartTimeout, zeroAllowed: true),
            StopSignal = stopSignal,
            StopTimeout = s.Duration("stop_timeout", defaults.StopTimeout),
            KeepReleases = s.Number("keep_releases", defaults.KeepReleases, 1, 1000),
            LogMaxBytes = logMax,
            LogBackups = s.Number("log_backups", defaults.LogBackups, 0, 1000),
            RedirectStderr = redirectStderr,
            FatalAfter = s.Number("fatal_after", defaults.FatalAfter, 1, 10_000),
            FatalWindow = s.Duration("fatal_window", defaults.FatalWindow),
        };
    }

    private static Dictionary<HookKind, AppHook> BuildHooks(IniSection s)
    {
        var fallback = s.Duration("timeout", DefaultHookTimeout);
        var hooks = new Dictionary<HookKind, AppHook>();
        foreach (var kind in Enum.GetValues<HookKind>())
        {
            var key = HookKey(kind);
            if (s.Get(key) is not { } text)
            {
                if (s.Get(key + "_timeout") is not null)
                {
                    throw s.Fail(key + "_timeout", $"a timeout for a hook that is not set ({key} = …)");
                }
                continue;
            }
            var command = Words(s, key, text);
            if (!StaysInside(command[0]))
            {
                throw s.Fail(key, $"'{command[0]}' is not a path inside the release (a relative path without '..', like hooks/{key}.sh)");
            }
            hooks[kind] = new AppHook(kind, command, s.Duration(key + "_timeout", fallback), s.LineOf(key));
        }
        return hooks;
    }

    private static HealthCheck BuildHealth(IniSection s)
    {
        var probes = HealthKeys.Take(3).Where(k => s.Get(k) is not null).ToList();
        if (probes.Count > 1)
        {
            throw s.Fail(probes[1], $"[health] takes one of http, tcp or command, not {string.Join(" and ", probes)}");
        }
        var check = new HealthCheck();
        check = check with
        {
            Interval = s.Duration("interval", check.Interval),
            Timeout = s.Duration("timeout", check.Timeout),
            HealthyFor = s.Duration("healthy_for", check.HealthyFor, zeroAllowed: true),
            Deadline = s.Duration("deadline", check.Deadline),
        };
        if (check.Deadline < check.HealthyFor)
        {
            throw s.Fail("deadline", $"{s.Get("deadline")} is shorter than healthy_for ({FormatDuration(check.HealthyFor)}): the gate could never pass");
        }
        if (s.Get("http") is { } url)
        {
            if (!Uri.TryCreate(ExpandForCheck(url), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || string.IsNullOrEmpty(uri.Host))
            {
                throw s.Fail("http", $"'{url}' is not an http:// or https:// URL");
            }
            return check with { Kind = HealthKind.Http, Target = url };
        }
        if (s.Get("tcp") is { } endpoint)
        {
            if (!TrySplitEndpoint(ExpandForCheck(endpoint), out _, out _))
            {
                throw s.Fail("tcp", $"'{endpoint}' is not HOST:PORT (a port from 1 to 65535; [::1]:8080 for IPv6)");
            }
            return check with { Kind = HealthKind.Tcp, Target = endpoint };
        }
        if (s.Get("command") is { } commandText)
        {
            var command = Words(s, "command", commandText);
            if (IsReleasePath(command[0]) && !StaysInside(command[0]))
            {
                throw s.Fail("command", $"'{command[0]}' leaves the release folder");
            }
            return check with { Kind = HealthKind.Command, Command = command };
        }
        return check;
    }

    /// <summary>
    /// An http or tcp target with <c>${NAME}</c> replaced by the app's environment (plain values only:
    /// a target is logged and reported, so a secret never goes into one); an unknown name stays as it is.
    /// </summary>
    public static string Expand(string target, IReadOnlyDictionary<string, string> plain)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(plain);
        return ReplaceVariables(target, name => plain.TryGetValue(name, out var v) ? v : null);
    }

    /// <summary>The target as it is checked at parse time: every variable stands for 1.</summary>
    private static string ExpandForCheck(string target) => ReplaceVariables(target, _ => "1");

    /// <summary>
    /// Each <c>${NAME}</c> (NAME: a letter or '_', then letters, digits and '_') replaced by
    /// <paramref name="value"/>(NAME), or left as it is when that is null. Hand-written rather than
    /// a Regex, which would cost the agent's binary about 1 MB.
    /// </summary>
    private static string ReplaceVariables(string text, Func<string, string?> value)
    {
        var result = new StringBuilder(text.Length);
        var i = 0;
        while (i < text.Length)
        {
            var start = text.IndexOf("${", i, StringComparison.Ordinal);
            if (start < 0)
            {
                break;
            }
            var end = text.IndexOf('}', start + 2);
            var name = end < 0 ? "" : text[(start + 2)..end];
            result.Append(text, i, start - i);
            if (IsVariableName(name) && value(name) is { } replacement)
            {
                result.Append(replacement);
                i = end + 1;
            }
            else
            {
                // Not a variable (or an unknown one): keep "$" and look again from the next character.
                result.Append('$');
                i = start + 1;
            }
        }
        return result.Append(text, i, text.Length - i).ToString();
    }

    private static bool IsVariableName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    /// <summary>Splits HOST:PORT ([v6]:PORT for IPv6).</summary>
    public static bool TrySplitEndpoint(string text, out string host, out int port)
    {
        ArgumentNullException.ThrowIfNull(text);
        host = "";
        port = 0;
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            return false;
        }
        host = text[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }
        return host.Length > 0 && !host.Contains(' ', StringComparison.Ordinal);
    }

    private static IReadOnlyList<string> Words(IniSection s, string key, string text)
    {
        if (!CommandLine.TrySplit(text, out var words, out var error))
        {
            throw s.Fail(key, error);
        }
        if (words.Count == 0)
        {
            throw s.Fail(key, "is empty");
        }
        return words;
    }

    private static string FormatDuration(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + "s";

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;

    private static AppConfigException Error(string source, int line, string? key, string problem) =>
        new($"{source}:{line}: {(key is null ? "" : key + ": ")}{problem}");
}

/// <summary>A belay-app.conf that was refused; the message names file, line and key.</summary>
public sealed class AppConfigException : BelayException
{
    public AppConfigException(string message)
        : base(ExitCodes.Usage, message)
    {
    }

    public AppConfigException()
        : this("invalid " + AppConfig.FileName)
    {
    }

    public AppConfigException(string message, Exception inner)
        : base(ExitCodes.Usage, message, inner)
    {
    }
}
