using System.Security.Cryptography;
using System.Text;

namespace Belay.Hub.Security;

/// <summary>
/// The hub's secrets: 256 random bits each, base64url, behind a prefix that says what kind it is
/// (so that a leaked one is recognized, and so that one kind is never accepted where another is
/// expected: an agent credential is not an operator token). The hub stores only the SHA-256 of a
/// secret; with 256 random bits there is nothing to brute-force, so no slow hash is needed
/// (passwords, which people choose, get PBKDF2 instead).
/// </summary>
internal static class HubSecrets
{
    /// <summary>A host's credential (agents, /agent/v1/connect).</summary>
    public const string CredentialPrefix = "bhc_";

    /// <summary>An enrollment token (belay install --enroll-token).</summary>
    public const string EnrollPrefix = "bhe_";

    /// <summary>An operator's API token (/api/v1).</summary>
    public const string ApiTokenPrefix = "bht_";

    /// <summary>A browser session (the cookie).</summary>
    public const string SessionPrefix = "bhs_";

    public static string New(string prefix) => prefix + Base64Url(RandomNumberGenerator.GetBytes(32));

    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>A short random id for listing and revoking (not a secret).</summary>
    public static string NewId(int bytes = 8) => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(bytes));

    /// <summary>A password for an operator who did not choose one: 20 characters, about 119 bits.</summary>
    public static string NewPassword()
    {
        const string alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        return RandomNumberGenerator.GetString(alphabet, 20);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
