using System.Globalization;

namespace Belay.Core.Programs;

/// <summary>Builds the exception for a problem at a line (and a key, when there is one) of the file being read.</summary>
internal delegate Exception IniError(int line, string? key, string problem);

/// <summary>
/// The INI shape programs.conf and belay-app.conf share (supervisord's): <c>[section]</c>
/// headers, <c>key = value</c> lines, <c>#</c> and <c>;</c> comments, and a line that starts
/// with white space continuing the value above it. Each file says which sections and keys it
/// knows; this reads the shape and refuses, naming the line, anything that is not in it: a
/// setting outside a section, a line without '=', an unknown key, a key set twice.
/// </summary>
internal static class IniFile
{
    /// <summary>The rules of one file format.</summary>
    /// <param name="HeaderExample">How a section header looks, for the error on a broken one ("[program:NAME]").</param>
    /// <param name="Outside">What a setting before the first header is outside of ("any [program:NAME] section").</param>
    /// <param name="Open">Checks a header's text against the sections read so far and returns the section's name; throws through the error for one the format does not allow.</param>
    /// <param name="UnknownKey">The problem with a key in a section, or null when the section knows it.</param>
    internal sealed record Format(
        string HeaderExample,
        string Outside,
        Func<string, int, IReadOnlyList<IniSection>, string> Open,
        Func<IniSection, string, string?> UnknownKey);

    /// <summary>Reads <paramref name="text"/> into its sections, in file order.</summary>
    public static List<IniSection> Read(string text, Format format, IniError error)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sections = new List<IniSection>();
        IniSection? current = null;
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
                    throw error(number, null, $"'{trimmed}' is not a section header like {format.HeaderExample}");
                }
                var header = trimmed[1..^1].Trim();
                current = new IniSection(format.Open(header, number, sections), header, number, error);
                sections.Add(current);
                last = null;
                continue;
            }
            if (current is null)
            {
                throw error(number, null, $"a setting outside {format.Outside}");
            }
            var eq = trimmed.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw error(number, null, $"'{trimmed}' is not 'key = value'");
            }
            var key = trimmed[..eq].Trim();
            if (format.UnknownKey(current, key) is { } problem)
            {
                throw error(number, key, problem);
            }
            if (current.Values.TryGetValue(key, out var seen))
            {
                throw error(number, key, $"set twice in [{current.Header}] (first on line {seen.Line})");
            }
            current.Values[key] = (trimmed[(eq + 1)..].Trim(), number);
            last = (key, number);
        }
        return sections;
    }
}

/// <summary>
/// One section as read, and the typed reads both formats share: each returns the fallback
/// when the key is absent and refuses a value it cannot read with the key's line and the
/// shape it wanted.
/// </summary>
internal sealed class IniSection(string name, string header, int line, IniError error)
{
    /// <summary>What the format calls it ("web" for [program:web], "app" for [app]).</summary>
    public string Name { get; } = name;

    /// <summary>The header's text between the brackets, as written.</summary>
    public string Header { get; } = header;

    /// <summary>The header's line.</summary>
    public int Line { get; } = line;

    public Dictionary<string, (string Value, int Line)> Values { get; } = new(StringComparer.Ordinal);

    public string? Get(string key) => Values.TryGetValue(key, out var v) ? v.Value : null;

    /// <summary>The key's line, or the header's when the key is absent.</summary>
    public int LineOf(string key) => Values.TryGetValue(key, out var v) ? v.Line : Line;

    public Exception Fail(string key, string problem) => error(LineOf(key), key, problem);

    /// <summary>A problem at the header's line that names a key (a required key that is missing).</summary>
    public Exception Missing(string key, string problem) => error(Line, key, problem);

    public TimeSpan Duration(string key, TimeSpan fallback, bool zeroAllowed = false)
    {
        if (Get(key) is not { } text)
        {
            return fallback;
        }
        if (!ProgramsConfig.TryParseDuration(text, out var value) || (value == TimeSpan.Zero && !zeroAllowed))
        {
            throw Fail(key, $"'{text}' is not a {(zeroAllowed ? "" : "positive ")}duration like 500ms, 10s, 5m or 1h");
        }
        return value;
    }

    public int Number(string key, int fallback, int min, int max)
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

    /// <summary>true/yes or false/no.</summary>
    public bool Flag(string key, bool fallback) => Get(key) switch
    {
        null => fallback,
        "true" or "yes" => true,
        "false" or "no" => false,
        var other => throw Fail(key, $"'{other}' is not true or false"),
    };

    public RestartPolicy Restart(string key) => Get(key) switch
    {
        null or "always" => RestartPolicy.Always,
        "on-failure" => RestartPolicy.OnFailure,
        "never" => RestartPolicy.Never,
        var other => throw Fail(key, $"'{other}' is not always, on-failure or never"),
    };

    /// <summary>A signal name (TERM, SIGTERM, INT, …) as its number.</summary>
    public int Signal(string key, int fallback)
    {
        var signal = fallback;
        if (Get(key) is { } text && !SignalNames.TryParse(text, out signal))
        {
            throw Fail(key, $"'{text}' is not a signal name ({string.Join(", ", SignalNames.Names)})");
        }
        return signal;
    }

    /// <summary>A log size of at least 1KB.</summary>
    public long LogSize(string key, long fallback)
    {
        var size = fallback;
        if (Get(key) is { } text && (!ProgramsConfig.TryParseSize(text, out size) || size < 1024))
        {
            throw Fail(key, $"'{text}' is not a size of at least 1KB, like 10MB");
        }
        return size;
    }

    /// <summary>backoff_initial and backoff_max, the second not shorter than the first.</summary>
    public (TimeSpan Initial, TimeSpan Max) Backoff(TimeSpan initial, TimeSpan max)
    {
        var first = Duration("backoff_initial", initial);
        var most = Duration("backoff_max", max);
        if (most < first)
        {
            throw Fail("backoff_max", $"{Get("backoff_max") ?? "60s"} is shorter than backoff_initial ({Get("backoff_initial")})");
        }
        return (first, most);
    }

    /// <summary>KEY=value entries (<see cref="ProgramsConfig.TryParseEnvironment"/>), none when absent.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Environment(string key)
    {
        IReadOnlyList<KeyValuePair<string, string>> entries = [];
        if (Get(key) is { } text && !ProgramsConfig.TryParseEnvironment(text, out entries, out var problem))
        {
            throw Fail(key, problem);
        }
        return entries;
    }
}
