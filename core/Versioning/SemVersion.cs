using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Belay.Core.Versioning;

/// <summary>
/// A Semantic Versioning 2.0.0 version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]) with the
/// spec's precedence: build metadata is ignored, a pre-release sorts before its release,
/// numeric identifiers compare numerically and sort before alphanumeric ones.
/// </summary>
public sealed class SemVersion : IComparable<SemVersion>, IEquatable<SemVersion>
{
    private readonly string[] _prerelease;

    private SemVersion(ulong major, ulong minor, ulong patch, string[] prerelease, string build, string text)
    {
        Major = major;
        Minor = minor;
        Patch = patch;
        _prerelease = prerelease;
        Build = build;
        Text = text;
    }

    public ulong Major { get; }
    public ulong Minor { get; }
    public ulong Patch { get; }
    public string Prerelease => string.Join('.', _prerelease);
    public string Build { get; }
    public bool IsPrerelease => _prerelease.Length > 0;

    /// <summary>The version exactly as it was written.</summary>
    public string Text { get; }

    public static SemVersion Parse(string text) =>
        TryParse(text, out var v, out var error) ? v : throw new FormatException(error);

    public static bool TryParse(string? text, [NotNullWhen(true)] out SemVersion? version, [NotNullWhen(false)] out string? error)
    {
        version = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "a version is required, like 1.4.2";
            return false;
        }
        var rest = text;
        var build = "";
        var plus = rest.IndexOf('+', StringComparison.Ordinal);
        if (plus >= 0)
        {
            build = rest[(plus + 1)..];
            rest = rest[..plus];
            if (!ValidIdentifiers(build, numericRule: false))
            {
                error = $"'{text}' is not a semantic version: bad build metadata '{build}'";
                return false;
            }
        }
        string[] pre = [];
        var dash = rest.IndexOf('-', StringComparison.Ordinal);
        if (dash >= 0)
        {
            var preText = rest[(dash + 1)..];
            rest = rest[..dash];
            if (!ValidIdentifiers(preText, numericRule: true))
            {
                error = $"'{text}' is not a semantic version: bad pre-release '{preText}'";
                return false;
            }
            pre = preText.Split('.');
        }
        var parts = rest.Split('.');
        if (parts.Length != 3 || !TryNumber(parts[0], out var major) || !TryNumber(parts[1], out var minor) || !TryNumber(parts[2], out var patch))
        {
            error = $"'{text}' is not a semantic version: expected MAJOR.MINOR.PATCH like 1.4.2";
            return false;
        }
        version = new SemVersion(major, minor, patch, pre, build, text);
        error = null;
        return true;
    }

    private static bool TryNumber(string s, out ulong value)
    {
        value = 0;
        if (s.Length == 0 || (s.Length > 1 && s[0] == '0') || !s.All(char.IsAsciiDigit))
        {
            return false;
        }
        return ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    private static bool ValidIdentifiers(string s, bool numericRule)
    {
        if (s.Length == 0)
        {
            return false;
        }
        foreach (var id in s.Split('.'))
        {
            if (id.Length == 0 || !id.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                return false;
            }
            if (numericRule && id.Length > 1 && id[0] == '0' && id.All(char.IsAsciiDigit))
            {
                return false;
            }
        }
        return true;
    }

    public int CompareTo(SemVersion? other)
    {
        if (other is null)
        {
            return 1;
        }
        var c = Major.CompareTo(other.Major);
        if (c != 0) { return c; }
        c = Minor.CompareTo(other.Minor);
        if (c != 0) { return c; }
        c = Patch.CompareTo(other.Patch);
        if (c != 0) { return c; }
        if (_prerelease.Length == 0 || other._prerelease.Length == 0)
        {
            // A release sorts after its own pre-releases.
            return (_prerelease.Length == 0 ? 1 : 0) - (other._prerelease.Length == 0 ? 1 : 0);
        }
        for (var i = 0; i < Math.Min(_prerelease.Length, other._prerelease.Length); i++)
        {
            c = CompareIdentifier(_prerelease[i], other._prerelease[i]);
            if (c != 0)
            {
                return c;
            }
        }
        return _prerelease.Length.CompareTo(other._prerelease.Length);
    }

    private static int CompareIdentifier(string a, string b)
    {
        var aNum = a.All(char.IsAsciiDigit);
        var bNum = b.All(char.IsAsciiDigit);
        if (aNum && bNum)
        {
            return a.Length != b.Length ? a.Length.CompareTo(b.Length) : string.CompareOrdinal(a, b);
        }
        if (aNum != bNum)
        {
            return aNum ? -1 : 1;
        }
        return string.CompareOrdinal(a, b);
    }

    public bool Equals(SemVersion? other) => other is not null && CompareTo(other) == 0;
    public override bool Equals(object? obj) => obj is SemVersion v && Equals(v);
    public override int GetHashCode() => HashCode.Combine(Major, Minor, Patch, Prerelease);
    public override string ToString() => Text;

    public static bool operator <(SemVersion a, SemVersion b) => a.CompareTo(b) < 0;
    public static bool operator >(SemVersion a, SemVersion b) => a.CompareTo(b) > 0;
    public static bool operator <=(SemVersion a, SemVersion b) => a.CompareTo(b) <= 0;
    public static bool operator >=(SemVersion a, SemVersion b) => a.CompareTo(b) >= 0;
    public static bool operator ==(SemVersion? a, SemVersion? b) => a is null ? b is null : a.Equals(b);
    public static bool operator !=(SemVersion? a, SemVersion? b) => !(a == b);
}
