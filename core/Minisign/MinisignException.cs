namespace Belay.Core.Minisign;

/// <summary>What went wrong with a minisign key, signature or verification.</summary>
public enum MinisignFailure
{
    /// <summary>A public or secret key could not be read: bad base64, wrong length, bad checksum.</summary>
    MalformedKey,

    /// <summary>A signature file could not be read: missing lines or prefixes, bad base64, wrong length.</summary>
    MalformedSignature,

    /// <summary>A key or signature names an algorithm minisign 0.11 does not use.</summary>
    UnsupportedAlgorithm,

    /// <summary>The signature was made by a key other than the one(s) trusted.</summary>
    KeyIdMismatch,

    /// <summary>The signature over the file (or its BLAKE2b-512 hash) does not verify: the file or the signature changed.</summary>
    SignatureInvalid,

    /// <summary>The global signature over the signature and the trusted comment does not verify: the trusted comment changed.</summary>
    TrustedCommentInvalid,

    /// <summary>The secret key is encrypted and no password was given.</summary>
    PasswordRequired,

    /// <summary>The secret key is encrypted and the password does not decrypt it.</summary>
    WrongPassword,

    /// <summary>A legacy ("Ed", not prehashed) signature was refused.</summary>
    LegacyNotAllowed,
}

/// <summary>
/// A minisign key, signature or verification failed. <see cref="Failure"/> says which check
/// failed; the message says what failed and what to do about it.
/// </summary>
public sealed class MinisignException : Exception
{
    public MinisignException(MinisignFailure failure, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Failure = failure;
    }

    public MinisignFailure Failure { get; }
}
