namespace Belay.Core.Encryption;

/// <summary>
/// Bech32 (BIP 173, not bech32m), as age spells its keys: <c>age1…</c> recipients and
/// <c>AGE-SECRET-KEY-1…</c> identities. Unlike BIP 173 there is no 90-character limit
/// (age does not need it for keys, but its plugins do), and a string is all lower or all
/// upper case, never mixed.
/// </summary>
internal static class Bech32
{
    private const string Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    private static readonly uint[] Generator = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

    /// <summary>Encodes <paramref name="data"/> under <paramref name="hrp"/>, in lower case.</summary>
    public static string Encode(string hrp, ReadOnlySpan<byte> data)
    {
        var lower = hrp.ToLowerInvariant();
        var values = ConvertBits(data, 8, 5, pad: true) ?? throw new InvalidOperationException("8-to-5 bit conversion cannot fail");
        var checksum = Checksum(lower, values);
        var chars = new char[lower.Length + 1 + values.Count + 6];
        lower.CopyTo(chars);
        chars[lower.Length] = '1';
        var i = lower.Length + 1;
        foreach (var v in values.Concat(checksum))
        {
            chars[i++] = Charset[v];
        }
        return new string(chars);
    }

    /// <summary>Decodes <paramref name="text"/>, or returns false with the reason.</summary>
    public static bool TryDecode(string text, out string hrp, out byte[] data, out string error)
    {
        hrp = "";
        data = [];
        if (text.Any(c => c is < '!' or > '~'))
        {
            error = "it holds a character that is not printable ASCII";
            return false;
        }
        if (text.Any(char.IsAsciiLetterLower) && text.Any(char.IsAsciiLetterUpper))
        {
            error = "it mixes upper and lower case";
            return false;
        }
        var lower = text.ToLowerInvariant();
        var separator = lower.LastIndexOf('1');
        if (separator < 1 || separator + 7 > lower.Length)
        {
            error = "it is not bech32 (no '1' separator before a 6-character checksum)";
            return false;
        }
        var values = new List<byte>(lower.Length - separator - 1);
        foreach (var c in lower[(separator + 1)..])
        {
            var v = Charset.IndexOf(c, StringComparison.Ordinal);
            if (v < 0)
            {
                error = $"'{c}' is not a bech32 character";
                return false;
            }
            values.Add((byte)v);
        }
        hrp = lower[..separator];
        if (Polymod(HrpExpand(hrp).Concat(values)) != 1)
        {
            error = "its checksum does not match (a typo, or a truncated key)";
            return false;
        }
        var decoded = ConvertBits(values.Take(values.Count - 6).ToArray(), 5, 8, pad: false);
        if (decoded is null)
        {
            error = "its data has invalid padding";
            return false;
        }
        data = [.. decoded];
        error = "";
        return true;
    }

    private static List<byte> Checksum(string hrp, List<byte> values)
    {
        var mod = Polymod(HrpExpand(hrp).Concat(values).Concat(new byte[6])) ^ 1;
        var checksum = new List<byte>(6);
        for (var i = 0; i < 6; i++)
        {
            checksum.Add((byte)((mod >> (5 * (5 - i))) & 31));
        }
        return checksum;
    }

    private static uint Polymod(IEnumerable<byte> values)
    {
        uint chk = 1;
        foreach (var v in values)
        {
            var top = chk >> 25;
            chk = ((chk & 0x1ffffff) << 5) ^ v;
            for (var i = 0; i < 5; i++)
            {
                if (((top >> i) & 1) != 0)
                {
                    chk ^= Generator[i];
                }
            }
        }
        return chk;
    }

    private static IEnumerable<byte> HrpExpand(string hrp) =>
        hrp.Select(c => (byte)(c >> 5)).Append((byte)0).Concat(hrp.Select(c => (byte)(c & 31)));

    private static List<byte>? ConvertBits(ReadOnlySpan<byte> data, int from, int to, bool pad)
    {
        var acc = 0;
        var bits = 0;
        var result = new List<byte>();
        var max = (1 << to) - 1;
        foreach (var value in data)
        {
            if (value >> from != 0)
            {
                return null;
            }
            acc = (acc << from) | value;
            bits += from;
            while (bits >= to)
            {
                bits -= to;
                result.Add((byte)((acc >> bits) & max));
            }
        }
        if (pad)
        {
            if (bits > 0)
            {
                result.Add((byte)((acc << (to - bits)) & max));
            }
        }
        else if (bits >= from || ((acc << (to - bits)) & max) != 0)
        {
            return null;
        }
        return result;
    }
}
