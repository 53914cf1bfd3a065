namespace Belay.Core;

/// <summary>
/// Exit codes shared by belay, belay-agent and belay-release: a contract with scripts,
/// service managers and the keeper (DESIGN.md, "Command line").
/// </summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>Any other error: bad input, I/O, a refused operation.</summary>
    public const int Error = 1;
    /// <summary>The command line was not understood.</summary>
    public const int Usage = 2;
    /// <summary>A trust check failed: signature, hash, size, expiry, sequence rollback.</summary>
    public const int TrustFailure = 3;
    /// <summary>The feed could not be reached or read.</summary>
    public const int FeedUnreachable = 4;
    /// <summary>The operation needs privileges this process does not have.</summary>
    public const int NeedsPrivileges = 5;

    /// <summary>`belay update --check` only: a newer version is available (0 means up to date), as `dnf check-update` does.</summary>
    public const int UpdateAvailable = 100;
}

/// <summary>
/// An error meant for the user: its message says what was wrong and what to do, and it
/// carries the exit code the command ends with. Anything else that escapes is a bug.
/// </summary>
public class BelayException : Exception
{
    public BelayException(int exitCode, string message, Exception? inner = null)
        : base(message, inner)
    {
        ExitCode = exitCode;
    }

    public BelayException()
        : this(ExitCodes.Error, "error")
    {
    }

    public BelayException(string message)
        : this(ExitCodes.Error, message)
    {
    }

    public BelayException(string message, Exception inner)
        : this(ExitCodes.Error, message, inner)
    {
    }

    public int ExitCode { get; }

    public static BelayException Trust(string message, Exception? inner = null) => new(ExitCodes.TrustFailure, message, inner);
    public static BelayException Unreachable(string message, Exception? inner = null) => new(ExitCodes.FeedUnreachable, message, inner);
}
