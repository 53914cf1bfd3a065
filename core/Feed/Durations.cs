using System.Globalization;

namespace Belay.Core.Feed;

/// <summary>Parses the short durations operators type: 90s, 45m, 12h, 30d, 2w.</summary>
public static class Durations
{
    public static TimeSpan Parse(string text)
    {
        if (TryParse(text, out var value))
        {
            return value;
        }
        throw new BelayException(ExitCodes.Usage, $"'{text}' is not a duration: use a number and a unit, like 90s, 45m, 12h, 30d or 2w");
    }

    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text) || text.Length < 2)
        {
            return false;
        }
        var unit = text[^1];
        if (!long.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n <= 0 || n > 100_000)
        {
            return false;
        }
        TimeSpan? result = unit switch
        {
            's' => TimeSpan.FromSeconds(n),
            'm' => TimeSpan.FromMinutes(n),
            'h' => TimeSpan.FromHours(n),
            'd' => TimeSpan.FromDays(n),
            'w' => TimeSpan.FromDays(7 * n),
            _ => null,
        };
        value = result ?? default;
        return result is not null;
    }
}
