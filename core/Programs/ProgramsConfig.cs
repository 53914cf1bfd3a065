using System.Globalization;
using System.Text;

namespace Belay.Core.Programs;

/// <summary>
/// programs.conf: the INI file operators write by hand (supervisord's shape). Parsed by
/// hand (no reflection, AOT-safe). Every error names the file, the line and the field,
/// and the whole file is refused: the agent keeps running the config it had.
/// <code>
/// # comment
/// [program:web]
/// command = /usr/bin/web --port 8080 "--title=a b"
/// environment = PORT=8080, TOKEN="s3cret"
/// restart = on-failure
/// </code>
/// A line that starts with white space continues the value above it (environment lists).
/// </summary>
public static class ProgramsConfig
{
    /// <summary>Names that `belay logs` keeps for the agent's and keeper's own logs, and "all", which `belay stop all` (start, restart) means.</summary>
    public static readonly IReadOnlySet<string> ReservedNames = new HashSet<string>(StringComparer.Ordinal) { "agent", "keeper", AllPrograms };

    /// <summary>What `belay stop|start|restart all` means: every program.</summary>
    public const string AllPrograms = "all";

    /// <summary>
    /// What stderr files add to a program's name (NAME.err.log, NAME.err.fifo). Program names may hold '.',
    /// so a program whose name ends in it is refused: its NAME.log would be another program's stderr file.
    /// </summary>
    public const string StderrSuffix = ".err";

    public static readonly IReadOnlyList<string> Keys =
    [
        "command", "environment", "directory", "user", "group", "restart", "autostart", "backoff_initial", "backoff_max",
        "start_timeout", "stop_signal", "stop_timeout", "priority", "log_max_bytes", "log_backups", "redirect_stderr", "fatal_after",
        "fatal_window",
    ];

    /// <summary>Reads and parses <paramref name="path"/>; a missing file is an empty config.</summary>
    public static IReadOnlyList<ProgramDefinition> Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return [];
        }
        return Parse(text, path);
    }

    /// <summary>Parses the text of a programs.conf; <paramref name="source"/> names it in errors.</summary>
    public static IReadOnlyList<ProgramDefinition> Parse(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sections = new List<Section>();
        Section? current = null;
        (string Key, int Line)? last = null;
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var number = i + 1;
            var raw = lines[i].TrimEnd('\r');
            var trimmed = raw.Trim();
            if (trimmed.Length == 0 || trimmed[0] is '#' or ';')
            {
                continue;
            }
            if (char.IsWhiteSpace(raw[0]) && current is not null && last is { } continued)
            {
                current.Values[continued.Key] = (current.Values[continued.Key].Value + "\n" + trimmed, continued.Line);
                continue;
            }
            if (trimmed[0] == '[')
            {
                if (trimmed[^1] != ']')
                {
                    throw Error(source, number, null, $"'{trimmed}' is not a section header like [program:NAME]");
                }
                var header = trimmed[1..^1].Trim();
                if (!header.StartsWith("program:", StringComparison.Ordinal))
                {
                    throw Error(source, number, null, $"[{header}] is not a section Belay knows; use [program:NAME]");
                }
                var name = header["program:".Length..].Trim();
                if (!IsValidName(name))
                {
                    throw Error(source, number, null, $"'{name}' is not a program name (letters, digits, '.', '_' and '-', at most 64, not starting with '.' or '-')");
                }
                if (ReservedNames.Contains(name))
                {
                    throw Error(source, number, null, name == AllPrograms
                        ? $"'{name}' is reserved (belay stop {name} means every program)"
                        : $"'{name}' is reserved (belay logs {name} shows Belay's own log)");
                }
                if (name.EndsWith(StderrSuffix, StringComparison.Ordinal))
                {
                    throw Error(source, number, null, $"'{name}' ends in {StderrSuffix}, which names stderr files (program {name[..^StderrSuffix.Length]} writes its stderr to {name}.log)");
                }
                if (sections.Find(s => s.Name == name) is { } earlier)
                {
                    throw Error(source, number, null, $"program '{name}' is already defined on line {earlier.Line}");
                }
                current = new Section(name, number);
                sections.Add(current);
                last = null;
                continue;
            }
            if (current is null)
            {
                throw Error(source, number, null, "a setting outside any [program:NAME] section");
            }
            var eq = trimmed.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw Error(source, number, null, $"'{trimmed}' is not 'key = value'");
            }
            var key = trimmed[..eq].Trim();
            if (!Keys.Contains(key))
            {
                throw Error(source, number, key, $"unknown setting (known: {string.Join(", ", Keys)})");
            }
            if (current.Values.TryGetValue(key, out var seen))
            {
                throw Error(source, number, key, $"set twice in [program:{current.Name}] (first on line {seen.Line})");
            }
            current.Values[key] = (trimmed[(eq + 1)..].Trim(), number);
            last = (key, number);
        }
        return [.. sections.Select(s => Build(s, source))];
    }

    public static bool IsValidName(string name) =>
        name.Length is > 0 and <= 64 && name[0] is not ('.' or '-') && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    private static ProgramDefinition Build(Section s, string source)
    {
        string? Get(string key) => s.Values.TryGetValue(key, out var v) ? v.Value : null;
        int LineOf(string key) => s.Values.TryGetValue(key, out var v) ? v.Line : s.Line;
        BelayException Fail(string key, string problem) => Error(source, LineOf(key), key, problem);

        if (Get("command") is not { } commandText)
        {
            throw Error(source, s.Line, "command", $"[program:{s.Name}] has no command");
        }
        if (!CommandLine.TrySplit(commandText, out var command, out var commandError))
        {
            throw Fail("command", commandError);
        }
        if (command.Count == 0)
        {
            throw Fail("command", "is empty");
        }
        IReadOnlyList<KeyValuePair<string, string>> environment = [];
        if (Get("environment") is { } envText && !TryParseEnvironment(envText, out environment, out var envError))
        {
            throw Fail("environment", envError);
        }
        var directory = Get("directory") ?? "/";
        if (!Path.IsPathRooted(directory))
        {
            throw Fail("directory", $"'{directory}' is not an absolute path");
        }
        var restart = Get("restart") switch
        {
            null or "always" => RestartPolicy.Always,
            "on-failure" => RestartPolicy.OnFailure,
            "never" => RestartPolicy.Never,
            var other => throw Fail("restart", $"'{other}' is not always, on-failure or never"),
        };
        var autostart = Get("autostart") switch
        {
            null or "true" or "yes" => true,
            "false" or "no" => false,
            var other => throw Fail("autostart", $"'{other}' is not true or false"),
        };
        var redirectStderr = Get("redirect_stderr") switch
        {
            null or "false" or "no" => false,
            "true" or "yes" => true,
            var other => throw Fail("redirect_stderr", $"'{other}' is not true or false"),
        };
        TimeSpan Duration(string key, TimeSpan fallback, bool zeroAllowed = false)
        {
            if (Get(key) is not { } text)
            {
                return fallback;
            }
            if (!TryParseDuration(text, out var value) || (value == TimeSpan.Zero && !zeroAllowed))
            {
                throw Fail(key, $"'{text}' is not a {(zeroAllowed ? "" : "positive ")}duration like 500ms, 10s, 5m or 1h");
            }
            return value;
        }
        int Number(string key, int fallback, int min, int max)
        {
            if (Get(key) is not { } text)
            {
                return fallback;
            }
            if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            {
                throw Fail(key, $"'{text}' is not a whole number from {min} to {max}");
            }
            return value;
        }
        var defaults = new ProgramDefinition { Name = s.Name, Command = command };
        var backoffInitial = Duration("backoff_initial", defaults.BackoffInitial);
        var backoffMax = Duration("backoff_max", defaults.BackoffMax);
        if (backoffMax < backoffInitial)
        {
            throw Fail("backoff_max", $"{Get("backoff_max") ?? "60s"} is shorter than backoff_initial ({Get("backoff_initial")})");
        }
        var stopSignal = defaults.StopSignal;
        if (Get("stop_signal") is { } signalText && !SignalNames.TryParse(signalText, out stopSignal))
        {
            throw Fail("stop_signal", $"'{signalText}' is not a signal name ({string.Join(", ", SignalNames.Names)})");
        }
        long logMax = defaults.LogMaxBytes;
        if (Get("log_max_bytes") is { } sizeText && (!TryParseSize(sizeText, out logMax) || logMax < 1024))
        {
            throw Fail("log_max_bytes", $"'{sizeText}' is not a size of at least 1KB, like 10MB");
        }
        return defaults with
        {
            Environment = environment,
            Directory = directory,
            User = NonEmpty(Get("user")),
            Group = NonEmpty(Get("group")),
            Restart = restart,
            Autostart = autostart,
            BackoffInitial = backoffInitial,
            BackoffMax = backoffMax,
            StartTimeout = Duration("start_timeout", defaults.StartTimeout, zeroAllowed: true),
            StopSignal = stopSignal,
            StopTimeout = Duration("stop_timeout", defaults.StopTimeout),
            Priority = Number("priority", defaults.Priority, -10_000, 10_000),
            LogMaxBytes = logMax,
            LogBackups = Number("log_backups", defaults.LogBackups, 0, 1000),
            RedirectStderr = redirectStderr,
            FatalAfter = Number("fatal_after", defaults.FatalAfter, 1, 10_000),
            FatalWindow = Duration("fatal_window", defaults.FatalWindow),
        };
    }

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;

    /// <summary>500ms, 10s, 5m, 1h, or a bare number of seconds (as supervisord's startsecs).</summary>
    public static bool TryParseDuration(string text, out TimeSpan value)
    {
        value = default;
        var (number, unit) = SplitUnit(text);
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n) || n < 0 || n > 1e7)
        {
            return false;
        }
        double? seconds = unit switch
        {
            "" or "s" => n,
            "ms" => n / 1000,
            "m" => n * 60,
            "h" => n * 3600,
            _ => null,
        };
        value = seconds is { } sec ? TimeSpan.FromSeconds(sec) : default;
        return seconds is not null;
    }

    /// <summary>1048576, 512KB, 10MB, 1GB (1024-based).</summary>
    public static bool TryParseSize(string text, out long value)
    {
        value = 0;
        var (number, unit) = SplitUnit(text);
        if (!long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n > 1L << 40)
        {
            return false;
        }
        long? factor = unit.ToUpperInvariant() switch
        {
            "" or "B" => 1,
            "KB" or "K" => 1024,
            "MB" or "M" => 1024 * 1024,
            "GB" or "G" => 1024 * 1024 * 1024,
            _ => null,
        };
        value = n * (factor ?? 0);
        return factor is not null;
    }

    private static (string Number, string Unit) SplitUnit(string text)
    {
        var t = text.Trim();
        var i = 0;
        while (i < t.Length && (char.IsAsciiDigit(t[i]) || t[i] == '.'))
        {
            i++;
        }
        return (t[..i], t[i..].Trim());
    }

    /// <summary>
    /// KEY=value entries separated by commas or line breaks; a value may be quoted ("a,b" or
    /// 'a b'), as supervisord writes them: KEY="v",K2="w".
    /// </summary>
    public static bool TryParseEnvironment(string text, out IReadOnlyList<KeyValuePair<string, string>> entries, out string error)
    {
        var list = new List<KeyValuePair<string, string>>();
        entries = list;
        error = "";
        var i = 0;
        while (true)
        {
            while (i < text.Length && (text[i] is ',' || char.IsWhiteSpace(text[i])))
            {
                i++;
            }
            if (i >= text.Length)
            {
                return true;
            }
            var start = i;
            while (i < text.Length && text[i] != '=' && text[i] != ',' && text[i] != '\n')
            {
                i++;
            }
            var key = text[start..i].Trim();
            if (i >= text.Length || text[i] != '=')
            {
                error = $"'{key}' is not KEY=value";
                return false;
            }
            if (key.Length == 0 || !key.All(c => char.IsAsciiLetterOrDigit(c) || c == '_') || char.IsAsciiDigit(key[0]))
            {
                error = $"'{key}' is not a variable name (letters, digits and '_')";
                return false;
            }
            i++; // '='
            var value = new StringBuilder();
            while (i < text.Length && text[i] is ' ' or '\t')
            {
                i++;
            }
            if (i < text.Length && text[i] is '"' or '\'')
            {
                var quote = text[i++];
                while (i < text.Length && text[i] != quote)
                {
                    if (quote == '"' && text[i] == '\\' && i + 1 < text.Length)
                    {
                        i++;
                    }
                    value.Append(text[i++]);
                }
                if (i >= text.Length)
                {
                    error = $"{key}: the quote {quote} is not closed";
                    return false;
                }
                i++;
                while (i < text.Length && text[i] is ' ' or '\t')
                {
                    i++;
                }
                if (i < text.Length && text[i] is not (',' or '\n'))
                {
                    error = $"{key}: text after the closing quote (separate entries with a comma or a new line)";
                    return false;
                }
            }
            else
            {
                while (i < text.Length && text[i] is not (',' or '\n'))
                {
                    value.Append(text[i++]);
                }
            }
            if (list.Exists(e => e.Key == key))
            {
                error = $"{key} is set twice";
                return false;
            }
            list.Add(new(key, value.ToString().Trim()));
        }
    }

    private static ProgramsConfigException Error(string source, int line, string? field, string problem) =>
        new ProgramsConfigException($"{source}:{line}: {(field is null ? "" : field + ": ")}{problem}");

    private sealed class Section(string name, int line)
    {
        public string Name { get; } = name;
        public int Line { get; } = line;
        public Dictionary<string, (string Value, int Line)> Values { get; } = new(StringComparer.Ordinal);
    }
}

/// <summary>A programs.conf the agent refused; the message names file, line and field.</summary>
public sealed class ProgramsConfigException : BelayException
{
    public ProgramsConfigException(string message)
        : base(ExitCodes.Usage, message)
    {
    }

    public ProgramsConfigException()
        : this("invalid programs.conf")
    {
    }

    public ProgramsConfigException(string message, Exception inner)
        : base(ExitCodes.Usage, message, inner)
    {
    }
}
