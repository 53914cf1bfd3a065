using System.Text;
using System.Text.RegularExpressions;

namespace Belay.Core.Services;

/// <summary>
/// The small template language of the service definitions in Services/Templates (shared by
/// the systemd unit and the launchd plist; SMF and WiX can use it too). A template is data:
/// <c>{{Name}}</c> is replaced by a value (values are inserted as given, never rescanned, so
/// an argument that contains <c>{{</c> stays literal); a line that holds only a placeholder
/// whose value is empty is dropped; lines between <c>{{#section}}</c> and <c>{{/section}}</c>
/// (each on a line of its own) are kept only when the section is on. A placeholder without
/// a value is a bug in the renderer and throws.
/// </summary>
internal static partial class ServiceTemplate
{
    /// <summary>The resource name under which Belay.Core embeds Services/Templates/<paramref name="fileName"/>.</summary>
    public static string ResourceName(string fileName) => "Belay.Core.Services.Templates." + fileName;

    /// <summary>The embedded template, or null when the build did not embed it.</summary>
    public static string? TryLoad(string fileName)
    {
        using var stream = typeof(ServiceTemplate).Assembly.GetManifestResourceStream(ResourceName(fileName));
        if (stream is null)
        {
            return null;
        }
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    public static string Load(string fileName) =>
        TryLoad(fileName) ?? throw new InvalidOperationException(
            $"the template {fileName} is not embedded in Belay.Core (resource {ResourceName(fileName)}); see core/Belay.Core.csproj");

    public static string Fill(string template, IReadOnlyDictionary<string, string> values, IReadOnlySet<string> sectionsOn)
    {
        ArgumentNullException.ThrowIfNull(template);
        var output = new StringBuilder(template.Length * 2);
        string? openSection = null;
        var keep = true;
        var lines = template.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        // A trailing newline yields one empty last element; it is not a line.
        var count = lines.Length > 0 && lines[^1].Length == 0 ? lines.Length - 1 : lines.Length;
        for (var i = 0; i < count; i++)
        {
            var line = lines[i];
            var trimmed = line.Trim();
            if (SectionMarker().Match(trimmed) is { Success: true } marker)
            {
                var name = marker.Groups[2].Value;
                if (marker.Groups[1].Value == "#")
                {
                    if (openSection is not null)
                    {
                        throw new FormatException($"line {i + 1}: section {name} opens inside section {openSection}");
                    }
                    openSection = name;
                    keep = sectionsOn.Contains(name);
                }
                else
                {
                    if (openSection != name)
                    {
                        throw new FormatException($"line {i + 1}: section {name} closes but {openSection ?? "none"} is open");
                    }
                    openSection = null;
                    keep = true;
                }
                continue;
            }
            if (!keep)
            {
                continue;
            }
            if (Placeholder().Match(trimmed) is { Success: true } whole && whole.Length == trimmed.Length
                && Value(values, whole.Groups[1].Value, i).Length == 0)
            {
                continue;
            }
            output.Append(Placeholder().Replace(line, m => Value(values, m.Groups[1].Value, i))).Append('\n');
        }
        if (openSection is not null)
        {
            throw new FormatException($"section {openSection} is never closed");
        }
        return output.ToString();
    }

    private static string Value(IReadOnlyDictionary<string, string> values, string name, int line) =>
        values.TryGetValue(name, out var value)
            ? value
            : throw new FormatException($"line {line + 1}: no value for the placeholder {{{{{name}}}}}");

    [GeneratedRegex(@"\{\{([A-Za-z][A-Za-z0-9]*)\}\}", RegexOptions.CultureInvariant)]
    private static partial Regex Placeholder();

    [GeneratedRegex(@"^\{\{([#/])([a-z][a-z0-9]*)\}\}$", RegexOptions.CultureInvariant)]
    private static partial Regex SectionMarker();
}
