using System.Text;

namespace Belay.Core.Encryption;

/// <summary>
/// age's ASCII armor (age -a): a strict subset of PEM. The begin line, the file in standard
/// base64 with padding, 64 columns a line (the last line shorter or equal), the end line.
/// Whitespace before and after, and CRLF line ends, are accepted; anything else (a short line
/// in the middle, a header, non-canonical base64, text after the end) is refused.
/// </summary>
public static class AgeArmor
{
    public const string Begin = "-----BEGIN AGE ENCRYPTED FILE-----";
    public const string End = "-----END AGE ENCRYPTED FILE-----";
    private const int Columns = 64;

    /// <summary>Whether <paramref name="file"/> starts (after whitespace) with the armor's begin line.</summary>
    public static bool IsArmored(ReadOnlySpan<byte> file)
    {
        var start = 0;
        while (start < file.Length && file[start] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            start++;
        }
        return file[start..].StartsWith(Encoding.ASCII.GetBytes(Begin));
    }

    /// <summary>Armors a binary age file; the text ends with a newline.</summary>
    public static string Encode(ReadOnlySpan<byte> file)
    {
        var text = new StringBuilder(Begin.Length + End.Length + file.Length * 4 / 3 + file.Length / 48 + 8);
        text.Append(Begin).Append('\n');
        for (var i = 0; i < file.Length; i += 48)
        {
            text.Append(Convert.ToBase64String(file.Slice(i, Math.Min(48, file.Length - i)))).Append('\n');
        }
        return text.Append(End).Append('\n').ToString();
    }

    /// <summary>Decodes an armored file, or throws <see cref="AgeException"/> saying which rule it breaks.</summary>
    public static byte[] Decode(string armored)
    {
        ArgumentNullException.ThrowIfNull(armored);
        var lines = armored.Trim().Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        if (lines.Length < 2 || lines[0] != Begin)
        {
            throw Malformed($"it does not start with {Begin}");
        }
        if (lines[^1] != End)
        {
            throw Malformed($"it does not end with {End}");
        }
        var body = lines[1..^1];
        if (body.Length == 0)
        {
            return []; // an armor around nothing: the (empty) file then fails as an age header
        }
        for (var i = 0; i < body.Length; i++)
        {
            var last = i == body.Length - 1;
            if (body[i].Length > Columns || (!last && body[i].Length != Columns) || body[i].Length == 0)
            {
                throw Malformed($"line {i + 2} is {body[i].Length} characters; every line but the last must be exactly {Columns}");
            }
        }
        var joined = string.Concat(body);
        byte[] data;
        try
        {
            data = Convert.FromBase64String(joined);
        }
        catch (FormatException e)
        {
            throw new AgeException(AgeFailure.Armor, "the armored age file is not valid base64", e);
        }
        // Canonical only: the same bytes must encode back to the same text (no stray padding or bits).
        if (Convert.ToBase64String(data) != joined)
        {
            throw Malformed("its base64 is not canonical");
        }
        return data;
    }

    private static AgeException Malformed(string why) => new(AgeFailure.Armor, $"not an armored age file: {why}");
}
