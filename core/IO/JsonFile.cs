using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Belay.Core.IO;

/// <summary>
/// A JSON file Belay keeps on disk (config.json, state.json, agent.json, trust.json, the programs'
/// state) that is not what it must be: the file, the field, what was found there and what is
/// allowed, and what to do. The message reads "FILE: field F: what was wrong; what to do".
/// </summary>
public sealed class JsonFileException : BelayException
{
    public JsonFileException(string file, string? field, string problem, string remedy, Exception? inner = null)
        : base(inner is UnauthorizedAccessException ? ExitCodes.NeedsPrivileges : ExitCodes.Error, $"{file}: {(field is null ? "" : $"field {field}: ")}{problem}; {remedy}", inner)
    {
        File = file;
        Field = field;
        Problem = problem;
    }

    public JsonFileException()
        : this("(file)", null, "not valid", "fix it")
    {
    }

    public JsonFileException(string message)
        : base(message)
    {
        File = "(file)";
        Problem = message;
    }

    public JsonFileException(string message, Exception inner)
        : base(ExitCodes.Error, message, inner)
    {
        File = "(file)";
        Problem = message;
    }

    public string File { get; }

    /// <summary>The field in error (a JSON path without "$.", like trial.version or programs[2].name); null for the whole file.</summary>
    public string? Field { get; }

    public string Problem { get; }
}

/// <summary>
/// Reads Belay's own JSON files with messages of our own. The runtime's JsonException text is
/// not shown (NativeAOT drops its resource strings, leaving keys like
/// DeserializeUnableToConvertValue); its Path and line are. Each caller names what every field
/// may hold (<c>allowed</c>, keyed by path with list indices written as []), so that a planted
/// null, a number where a list belongs or a truncated file is refused with the file, the field,
/// what was found and what is allowed. Semantic checks (a version that is not a version, a
/// negative count) are the caller's, after this.
/// </summary>
public static class JsonFile
{
    /// <summary>The bytes of <paramref name="path"/>; null when it does not exist; a <see cref="JsonFileException"/> when it cannot be read.</summary>
    public static byte[]? ReadBytes(string path, string remedy)
    {
        try
        {
            return System.IO.File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (UnauthorizedAccessException e)
        {
            throw new JsonFileException(path, null, "cannot be read: permission denied (run the command as the installation's owner, or with sudo)", remedy, e);
        }
        catch (IOException e)
        {
            throw new JsonFileException(path, null, $"cannot be read ({IOErrors.Describe(e)})", remedy, e);
        }
    }

    /// <summary>Deserializes <paramref name="json"/>, read from <paramref name="source"/>, into a non-null object.</summary>
    /// <param name="fieldPrefix">Where <paramref name="json"/> sits in its file when it is one element of it (programs[2]), for the messages.</param>
    public static T Parse<T>(ReadOnlySpan<byte> json, string source, JsonTypeInfo<T> type, IReadOnlyDictionary<string, string> allowed, string remedy,
        string? fieldPrefix = null)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(type);
        ArgumentNullException.ThrowIfNull(allowed);
        T? value;
        try
        {
            value = JsonSerializer.Deserialize(json, type);
        }
        catch (JsonException e)
        {
            var (field, problem) = Describe(json, e, allowed);
            throw new JsonFileException(source, Join(fieldPrefix, field), problem, remedy, e);
        }
        return value ?? throw new JsonFileException(source, fieldPrefix, "null is not allowed; expected a JSON object", remedy);
    }

    private static string? Join(string? prefix, string? field) =>
        prefix is null ? field : field is null ? prefix : field.StartsWith('[') ? prefix + field : $"{prefix}.{field}";

    /// <summary>The field and what is wrong there, for a JsonException thrown while reading <paramref name="json"/>.</summary>
    public static (string? Field, string Problem) Describe(ReadOnlySpan<byte> json, JsonException e, IReadOnlyDictionary<string, string> allowed)
    {
        ArgumentNullException.ThrowIfNull(e);
        ArgumentNullException.ThrowIfNull(allowed);
        if (json.Trim(" \t\r\n"u8).IsEmpty)
        {
            return (null, "it is empty");
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException syntax)
        {
            var where = syntax.LineNumber is { } line
                ? $" at line {(line + 1).ToString(CultureInfo.InvariantCulture)}, column {((syntax.BytePositionInLine ?? 0) + 1).ToString(CultureInfo.InvariantCulture)}"
                : "";
            return (null, json.IndexOf((byte)0) >= 0 ? $"it is not JSON (it holds NUL bytes{where}: a write cut short?)" : $"it is not valid JSON{where} (cut short, or edited by hand?)");
        }
        using (document)
        {
            var field = FieldOf(e.Path);
            var found = Find(document.RootElement, e.Path) is { } element ? Kind(element) : null;
            if (field is null)
            {
                return (null, $"it holds {found ?? "something else"} instead of a JSON object");
            }
            var expected = Allowed(allowed, field);
            var what = found switch
            {
                null => "holds a value of the wrong type",
                "null" => "null is not allowed",
                _ => $"{found} is not allowed",
            };
            return (field, expected is null ? what : $"{what}; expected {expected}");
        }
    }

    /// <summary>What <paramref name="allowed"/> says of <paramref name="field"/> (programs[2].name looks up programs[].name, then programs[]).</summary>
    public static string? Allowed(IReadOnlyDictionary<string, string> allowed, string field)
    {
        ArgumentNullException.ThrowIfNull(allowed);
        ArgumentNullException.ThrowIfNull(field);
        var key = StripIndices(field);
        while (true)
        {
            if (allowed.TryGetValue(key, out var text))
            {
                return text;
            }
            var cut = Math.Max(key.LastIndexOf('.'), key.EndsWith("[]", StringComparison.Ordinal) ? key.Length - 2 : -1);
            if (cut <= 0)
            {
                return null;
            }
            key = key[..cut];
        }
    }

    /// <summary>"$.trial.version" → "trial.version"; "$['a b'].c" → "a b.c"; "$" → null.</summary>
    private static string? FieldOf(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$")
        {
            return null;
        }
        var parts = Segments(path);
        if (parts.Count == 0)
        {
            return null;
        }
        var text = new System.Text.StringBuilder();
        foreach (var (name, index) in parts)
        {
            if (name is not null)
            {
                if (text.Length > 0)
                {
                    text.Append('.');
                }
                text.Append(name);
            }
            else
            {
                text.Append('[').Append(index.ToString(CultureInfo.InvariantCulture)).Append(']');
            }
        }
        return text.ToString();
    }

    private static string StripIndices(string field)
    {
        var text = new System.Text.StringBuilder(field.Length);
        var inIndex = false;
        foreach (var c in field)
        {
            if (c == '[')
            {
                inIndex = true;
                text.Append("[]");
            }
            else if (c == ']')
            {
                inIndex = false;
            }
            else if (!inIndex)
            {
                text.Append(c);
            }
        }
        return text.ToString();
    }

    private static JsonElement? Find(JsonElement root, string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return root;
        }
        var element = root;
        foreach (var (name, index) in Segments(path))
        {
            if (name is not null)
            {
                if (element.ValueKind != JsonValueKind.Object || !TryGetProperty(element, name, out element))
                {
                    return null;
                }
            }
            else if (element.ValueKind != JsonValueKind.Array || index >= element.GetArrayLength())
            {
                return null;
            }
            else
            {
                element = element[index];
            }
        }
        return element;
    }

    /// <summary>Property names in the files are camelCase; the path may carry them as written or as the model's.</summary>
    private static bool TryGetProperty(JsonElement element, string name, out JsonElement value)
    {
        if (element.TryGetProperty(name, out value))
        {
            return true;
        }
        foreach (var property in element.EnumerateObject())
        {
            if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                value = property.Value;
                return true;
            }
        }
        return false;
    }

    /// <summary>The segments of a JsonException path: $.a.b[3]['c d'].</summary>
    private static List<(string? Name, int Index)> Segments(string path)
    {
        var parts = new List<(string?, int)>();
        var i = path.StartsWith('$') ? 1 : 0;
        while (i < path.Length)
        {
            if (path[i] == '.')
            {
                var end = i + 1;
                while (end < path.Length && path[end] is not ('.' or '['))
                {
                    end++;
                }
                parts.Add((path[(i + 1)..end], 0));
                i = end;
            }
            else if (path[i] == '[' && i + 1 < path.Length && path[i + 1] == '\'')
            {
                var end = path.IndexOf("']", i + 2, StringComparison.Ordinal);
                if (end < 0)
                {
                    break;
                }
                parts.Add((path[(i + 2)..end], 0));
                i = end + 2;
            }
            else if (path[i] == '[')
            {
                var end = path.IndexOf(']', i + 1);
                if (end < 0 || !int.TryParse(path.AsSpan(i + 1, end - i - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var index))
                {
                    break;
                }
                parts.Add((null, index));
                i = end + 1;
            }
            else
            {
                break;
            }
        }
        return parts;
    }

    /// <summary>What a JSON value is, for a message: "null", "a string (\"x\")", "a number (5)", "a list", "an object", "true".</summary>
    public static string Kind(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Null => "null",
        JsonValueKind.String => $"a string (\"{Clip(element.GetString() ?? "")}\")",
        JsonValueKind.Number => $"a number ({Clip(element.GetRawText())})",
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Array => "a list",
        JsonValueKind.Object => "an object",
        _ => "a value",
    };

    private static string Clip(string text) => text.Length > 40 ? text[..40] + "…" : text;
}
