using System.Text.Json;
using System.Text.Json.Serialization;

namespace Belay.Core.IO;

/// <summary>
/// An enum written and read as its member's name ("Running"), exactly as
/// <see cref="JsonStringEnumConverter"/> without a naming policy does, but without what that
/// converter links in: it parses integer strings with a Regex, which costs the agent's binary
/// about 1 MB (docs/architecture.md, "Footprint"). Only a defined name is read; a number or an
/// unknown name is a <see cref="JsonException"/>, which the file's reader reports.
/// </summary>
public sealed class EnumNameConverter<T> : JsonConverter<T>
    where T : struct, Enum
{
    private static readonly T[] Values = Enum.GetValues<T>();

    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException($"expected one of {Names()} as a string, found {reader.TokenType}");
        }
        var text = reader.GetString();
        foreach (var value in Values)
        {
            if (string.Equals(Enum.GetName(value), text, StringComparison.Ordinal))
            {
                return value;
            }
        }
        throw new JsonException($"'{text}' is not one of {Names()}");
    }

    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(Enum.GetName(value) ?? throw new JsonException($"{value} is not a named {typeof(T).Name}"));
    }

    private static string Names() => string.Join(", ", Values.Select(v => Enum.GetName(v)));
}
