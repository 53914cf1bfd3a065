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
        "fatal_window", "password_file",
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
        IniError error = (line, key, problem) => Error(source, line, key, problem);
        var format = new IniFile.Format(
            "[program:NAME]",
            "any [program:NAME] section",
            (header, line, earlier) => OpenSection(header, line, earlier, error),
            (_, key) => Keys.Contains(key) ? null : $"unknown setting (known: {string.Join(", ", Keys)})");
        return [.. IniFile.Read(text, format, error).Select(Build)];
    }

    private static string OpenSection(string header, int line, IReadOnlyList<IniSection> earlier, IniError error)
    {
        if (!header.StartsWith("program:", StringComparison.Ordinal))
        {
            throw error(line, null, $"[{header}] is not a section Belay knows; use [program:NAME]");
        }
        var name = header["program:".Length..].Trim();
        if (!IsValidName(name))
        {
            throw error(line, null, $"'{name}' is not a program name (letters, digits, '.', '_' and '-', at most 64, not starting with '.' or '-')");
        }
        if (ReservedNames.Contains(name))
        {
            throw error(line, null, name == AllPrograms
                ? $"'{name}' is reserved (belay stop {name} means every program)"
                : $"'{name}' is reserved (belay logs {name} shows Belay's own log)");
        }
        if (name.EndsWith(StderrSuffix, StringComparison.Ordinal))
        {
            throw error(line, null, $"'{name}' ends in {StderrSuffix}, which names stderr files (program {name[..^StderrSuffix.Length]} writes its stderr to {name}.log)");
        }
        if (earlier.FirstOrDefault(s => s.Name == name) is { } first)
        {
            throw error(line, null, $"program '{name}' is already defined on line {first.Line}");
        }
        return name;
    }

    public static bool IsValidName(string name) =>
        name.Length is > 0 and <= 64 && name[0] is not ('.' or '-') && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    private static ProgramDefinition Build(IniSection s)
    {
        if (s.Get("command") is not { } commandText)
        {
            throw s.Missing("command", $"[program:{s.Name}] has no command");
        }
        if (!CommandLine.TrySplit(commandText, out var command, out var commandError))
        {
            throw s.Fail("command", commandError);
        }
        if (command.Count == 0)
        {
            throw s.Fail("command", "is empty");
        }
        var environment = s.Environment("environment");
        var directory = s.Get("directory") ?? "/";
        if (!Path.IsPathRooted(directory))
        {
            throw s.Fail("directory", $"'{directory}' is not an absolute path");
        }
        var restart = s.Restart("restart");
        var autostart = s.Flag("autostart", fallback: true);
        var redirectStderr = s.Flag("redirect_stderr", fallback: false);
        var user = NonEmpty(s.Get("user"));
        var passwordFile = NonEmpty(s.Get("password_file"));
        if (passwordFile is not null && user is null)
        {
            throw s.Fail("password_file", "is the password of user's account, and there is no user");
        }
        if (passwordFile is not null && !Path.IsPathRooted(passwordFile))
        {
            throw s.Fail("password_file", $"'{passwordFile}' is not an absolute path");
        }
        var defaults = new ProgramDefinition { Name = s.Name, Command = command };
        var (backoffInitial, backoffMax) = s.Backoff(defaults.BackoffInitial, defaults.BackoffMax);
        var stopSignal = s.Signal("stop_signal", defaults.StopSignal);
        var logMax = s.LogSize("log_max_bytes", defaults.LogMaxBytes);
        return defaults with
        {
            Environment = environment,
            Directory = directory,
            User = user,
            PasswordFile = passwordFile,
            Group = NonEmpty(s.Get("group")),
            Restart = restart,
            Autostart = autostart,
            BackoffInitial = backoffInitial,
            BackoffMax = backoffMax,
            StartTimeout = s.Duration("start_timeout", defaults.StartTimeout, zeroAllowed: true),
            StopSignal = stopSignal,
            StopTimeout = s.Duration("stop_timeout", defaults.StopTimeout),
            Priority = s.Number("priority", defaults.Priority, -10_000, 10_000),
            LogMaxBytes = logMax,
            LogBackups = s.Number("log_backups", defaults.LogBackups, 0, 1000),
            RedirectStderr = redirectStderr,
            FatalAfter = s.Number("fatal_after", defaults.FatalAfter, 1, 10_000),
            FatalWindow = s.Duration("fatal_window", defaults.FatalWindow),
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
