using Microsoft.AspNetCore.Identity;

namespace Belay.Hub.Security;

/// <summary>
/// Operators' passwords, hashed by ASP.NET Core Identity's <see cref="PasswordHasher{TUser}"/>
/// (PBKDF2 with HMAC-SHA512, 100,000 iterations, a random salt, versioned format): the shared
/// framework's own, rather than a hash of our making.
/// </summary>
internal static class Passwords
{
    /// <summary>Shorter passwords are refused; a generated one has 20 characters.</summary>
    public const int MinimumLength = 12;

    private static readonly PasswordHasher<string> Hasher = new();

    public static string Hash(string user, string password) => Hasher.HashPassword(user, password);

    public static bool Verify(string user, string hash, string password) =>
        Hasher.VerifyHashedPassword(user, hash, password) != PasswordVerificationResult.Failed;

    /// <summary>A hash to compare against when the user does not exist, so that a wrong name takes as long as a wrong password.</summary>
    public static readonly string Decoy = Hasher.HashPassword("", "not a password of anyone's");
}
