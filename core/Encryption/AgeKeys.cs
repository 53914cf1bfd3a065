using System.Security.Cryptography;
using Org.BouncyCastle.Math.EC.Rfc7748;

namespace Belay.Core.Encryption;

/// <summary>
/// An age X25519 recipient, <c>age1…</c> (bech32 of the 32-byte public key): what a secret is
/// encrypted to. Public; safe to print and to put in a feed's docs.
/// </summary>
public sealed class AgeRecipient : IEquatable<AgeRecipient>
{
    public const string Hrp = "age";

    private readonly byte[] _publicKey;

    internal AgeRecipient(byte[] publicKey)
    {
        _publicKey = publicKey;
    }

    internal ReadOnlySpan<byte> PublicKey => _publicKey;

    /// <summary>Parses <c>age1…</c>; false with the reason when it is not an X25519 recipient.</summary>
    public static bool TryParse(string? text, out AgeRecipient recipient, out string error)
    {
        recipient = null!;
        var trimmed = text?.Trim() ?? "";
        if (!trimmed.StartsWith("age1", StringComparison.Ordinal))
        {
            error = trimmed.StartsWith("ssh-", StringComparison.Ordinal)
                ? "SSH recipients are not supported: make an X25519 key pair with age-keygen and use its age1… public key"
                : "an age recipient starts with age1 (the public key age-keygen prints)";
            return false;
        }
        if (!Bech32.TryDecode(trimmed, out var hrp, out var data, out error))
        {
            error = $"'{trimmed}' is not an age recipient: {error}";
            return false;
        }
        if (hrp != Hrp || data.Length != X25519.PointSize)
        {
            error = $"'{trimmed}' is not an X25519 age recipient (prefix '{hrp}', {data.Length} bytes; expected 'age' and 32)";
            return false;
        }
        recipient = new AgeRecipient(data);
        return true;
    }

    public static AgeRecipient Parse(string text) =>
        TryParse(text, out var recipient, out var error) ? recipient : throw new AgeException(AgeFailure.BadKey, error);

    public override string ToString() => Bech32.Encode(Hrp, _publicKey);

    public bool Equals(AgeRecipient? other) => other is not null && _publicKey.AsSpan().SequenceEqual(other._publicKey);

    public override bool Equals(object? obj) => Equals(obj as AgeRecipient);

    public override int GetHashCode() => BitConverter.ToInt32(_publicKey, 0);
}

/// <summary>
/// An age X25519 identity, <c>AGE-SECRET-KEY-1…</c>: what decrypts. A group's hosts hold one,
/// owner-only (docs/deployments.md, "Secrets"). <see cref="ToString"/> never shows the key.
/// </summary>
public sealed class AgeIdentity
{
    public const string Hrp = "AGE-SECRET-KEY-";

    private readonly byte[] _secret;

    private AgeIdentity(byte[] secret)
    {
        _secret = secret;
        var publicKey = new byte[X25519.PointSize];
        X25519.ScalarMultBase(secret, 0, publicKey, 0);
        Recipient = new AgeRecipient(publicKey);
    }

    /// <summary>The matching public key: what to encrypt the group's secrets to.</summary>
    public AgeRecipient Recipient { get; }

    internal ReadOnlySpan<byte> Secret => _secret;

    /// <summary>A new random identity (what age-keygen makes).</summary>
    public static AgeIdentity Generate() => new(RandomNumberGenerator.GetBytes(X25519.ScalarSize));

    /// <summary>Parses one <c>AGE-SECRET-KEY-1…</c> line. The error never repeats the key.</summary>
    public static bool TryParse(string? text, out AgeIdentity identity, out string error)
    {
        identity = null!;
        var trimmed = text?.Trim() ?? "";
        if (trimmed.StartsWith("AGE-PLUGIN-", StringComparison.Ordinal))
        {
            error = "plugin identities (AGE-PLUGIN-…) are not supported: use an X25519 identity from age-keygen";
            return false;
        }
        if (!trimmed.StartsWith("AGE-SECRET-KEY-1", StringComparison.Ordinal))
        {
            error = "an age identity is a line starting with AGE-SECRET-KEY-1 (what age-keygen writes)";
            return false;
        }
        if (!Bech32.TryDecode(trimmed, out var hrp, out var data, out var why))
        {
            error = $"the AGE-SECRET-KEY-1… line is not a valid key: {why}";
            return false;
        }
        if (!string.Equals(hrp, Hrp, StringComparison.OrdinalIgnoreCase) || data.Length != X25519.ScalarSize)
        {
            error = $"the AGE-SECRET-KEY-1… line is not an X25519 identity ({data.Length} bytes, expected 32)";
            return false;
        }
        identity = new AgeIdentity(data);
        error = "";
        return true;
    }

    /// <summary>
    /// Parses an identity file as age-keygen writes it: '#' comments and blank lines ignored,
    /// every other line an <c>AGE-SECRET-KEY-1…</c>; at least one. Errors name the line, never its content.
    /// </summary>
    public static IReadOnlyList<AgeIdentity> ParseFile(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        var identities = new List<AgeIdentity>();
        var number = 0;
        foreach (var raw in text.Split('\n'))
        {
            number++;
            var line = raw.TrimEnd('\r').Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            if (!TryParse(line, out var identity, out var error))
            {
                throw new AgeException(AgeFailure.BadKey, $"{source}, line {number}: {error}");
            }
            identities.Add(identity);
        }
        if (identities.Count == 0)
        {
            throw new AgeException(AgeFailure.BadKey, $"{source} holds no age identity (an AGE-SECRET-KEY-1… line, as age-keygen writes)");
        }
        return identities;
    }

    /// <summary>The identity as age-keygen writes it, with the created and public key comments: a file age -d -i reads.</summary>
    public string ToFileText(DateTimeOffset created) =>
        $"# created: {created.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture)}\n# public key: {Recipient}\n{Bech32.Encode(Hrp, _secret).ToUpperInvariant()}\n";

    public override string ToString() => $"age identity for {Recipient}";
}
