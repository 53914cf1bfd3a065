using System.Text;
using Belay.Core.IO;

namespace Belay.Core.Programs.Windows;

/// <summary>
/// A program's <c>user</c> on Windows (docs/programs.md, "On Windows"), as a call sequence over
/// <see cref="IWindowsProcessApi"/>: LookupAccountName (an unknown account or a group is refused before
/// anything else), LogonUser with LOGON32_LOGON_SERVICE (LocalService and NetworkService without a
/// password, any other account with the password its <c>password_file</c> holds), then the program starts
/// as <see cref="ProgramJobs.Start"/> starts any program, in its own job with its pipes, through
/// CreateProcessAsUser with that token and the desktop of the account's own logon session; the token is
/// closed whatever happens. What the operator must fix (no such account, no password, a wrong password, a
/// missing right or privilege) is a <see cref="FatalSpawnException"/> that says what and how; anything else
/// is the <see cref="WindowsCallException"/> it was.
/// </summary>
public sealed class ProgramLogon(IWindowsProcessApi api)
{
    private const string NtAuthority = "NT AUTHORITY";

    /// <summary>The service accounts that need no password: LocalService and NetworkService, with or without NT AUTHORITY\.</summary>
    public static bool IsServiceAccount(string user)
    {
        ArgumentNullException.ThrowIfNull(user);
        var name = user.StartsWith(NtAuthority + "\\", StringComparison.OrdinalIgnoreCase) ? user[(NtAuthority.Length + 1)..] : user;
        return name.Equals("LocalService", StringComparison.OrdinalIgnoreCase) || name.Equals("NetworkService", StringComparison.OrdinalIgnoreCase)
            || name.Equals("Local Service", StringComparison.OrdinalIgnoreCase) || name.Equals("Network Service", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Starts <paramref name="start"/> as <paramref name="user"/>; <paramref name="readPassword"/> reads the password
    /// file (and throws a <see cref="FatalSpawnException"/> when it cannot be used).
    /// </summary>
    public JobProgram Start(ProgramJobs jobs, JobStart start, string pipeName, string user, string? passwordFile, Func<string, string> readPassword)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(readPassword);
        var token = Logon(user, passwordFile, readPassword);
        try
        {
            return jobs.Start(start with { Token = token, Desktop = "" }, pipeName);
        }
        catch (WindowsCallException e) when (e.Error == Win32.ErrorPrivilegeNotHeld)
        {
            throw new FatalSpawnException(
                $"user = {user}: the agent's account may not start a program as another account: it lacks SeAssignPrimaryTokenPrivilege " +
                $"or SeIncreaseQuotaPrivilege ({e.Message}); LocalSystem has both: run the agent as the Belay service, or remove user", e);
        }
        finally
        {
            try
            {
                api.CloseHandle(token);
            }
            catch (WindowsCallException)
            {
                // The token is gone either way; what matters is the start's outcome.
            }
        }
    }

    /// <summary>The account's primary token (LOGON32_LOGON_SERVICE), after checking that it exists and is an account.</summary>
    public nint Logon(string user, string? passwordFile, Func<string, string> readPassword)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(user);
        ArgumentNullException.ThrowIfNull(readPassword);
        AccountLookup account;
        try
        {
            account = api.LookupAccount(user);
        }
        catch (WindowsCallException e) when (e.Error == Win32.ErrorNoneMapped)
        {
            throw new FatalSpawnException($"user = {user}: there is no such account on this machine or its domain ({e.Message}); create it, or correct user", e);
        }
        catch (WindowsCallException e)
        {
            throw new FatalSpawnException($"user = {user}: cannot look the account up ({e.Message}); check the name, and that the domain can be reached", e);
        }
        var service = IsServiceAccount(user) && account.Domain.Equals(NtAuthority, StringComparison.OrdinalIgnoreCase);
        if (!service && account.Use != Win32.SidTypeUser)
        {
            throw new FatalSpawnException($"user = {user}: {account.Domain}\\{Name(user)} is not a user account (it is a group, a domain or a built-in name); name an account");
        }
        string? password = null;
        if (service)
        {
            if (passwordFile is not null)
            {
                throw new FatalSpawnException($"user = {user}: {Name(user)} has no password (the service logs it on without one): remove password_file");
            }
        }
        else if (passwordFile is null)
        {
            throw new FatalSpawnException(
                $"user = {user}: running a program as an account other than LocalService or NetworkService needs the account's password: " +
                "put it in a file readable only by SYSTEM and Administrators and name that file in password_file (docs/programs.md, \"On Windows\"), or use LocalService or NetworkService");
        }
        else
        {
            password = readPassword(passwordFile);
        }
        var (logonUser, logonDomain) = user.Contains('@', StringComparison.Ordinal) && !user.Contains('\\', StringComparison.Ordinal)
            ? (user, (string?)null)
            : (Name(user), (string?)account.Domain);
        try
        {
            return api.LogonUser(logonUser, logonDomain, password);
        }
        catch (WindowsCallException e)
        {
            throw new FatalSpawnException(e.Error switch
            {
                Win32.ErrorLogonFailure => $"user = {user}: the password in {passwordFile} is not the account's ({e.Message}); put its current password there",
                Win32.ErrorLogonTypeNotGranted =>
                    $"user = {user}: the account may not log on as a service ({e.Message}); grant it \"Log on as a service\" (SeServiceLogonRight: secpol.msc, Local Policies, User Rights Assignment), or use an account that has it",
                Win32.ErrorPrivilegeNotHeld =>
                    $"user = {user}: the agent's account may not log another account on ({e.Message}); run the agent as the Belay service (LocalSystem), or remove user",
                _ => $"user = {user}: Windows refused to log the account on ({e.Message}); fix the account (enabled, not locked out, its password not expired), or remove user",
            }, e);
        }
    }

    /// <summary>The name without its domain (DOMAIN\name).</summary>
    private static string Name(string user) => user[(user.LastIndexOf('\\') + 1)..];

    /// <summary>
    /// The password in <paramref name="path"/>: the file must have the owner-only ACL of <paramref name="scope"/> (SYSTEM and
    /// Administrators for a system install), as config.json has, since whoever reads it can log on as the account; it may be
    /// DPAPI-sealed (<see cref="SecretProtection.Seal"/>) or plain text; one trailing line break is not part of the password.
    /// </summary>
    public static string ReadPassword(string path, OwnerOnlyAcl acl, OwnerOnlyScope scope, SecretProtection? protection)
    {
        ArgumentNullException.ThrowIfNull(acl);
        byte[] content;
        try
        {
            content = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FatalSpawnException($"password_file = {path}: cannot read it ({SystemErrors.Describe(e)}); create it with the account's password, readable only by {OwnerOnlyAcl.Who(scope)}", e);
        }
        if (acl.Problem(path, scope) is { } problem)
        {
            throw new FatalSpawnException(
                $"password_file = {path}: anyone it lets read it can log on as the account, so it must be readable only by {OwnerOnlyAcl.Who(scope)}: {problem}; " +
                $"restrict it: icacls \"{path}\" /inheritance:r /grant:r {(scope == OwnerOnlyScope.System ? "*S-1-5-32-544" : "%USERNAME%")}:F *S-1-5-18:F");
        }
        string text;
        try
        {
            text = Encoding.UTF8.GetString(SecretProtection.Open(content, protection, $"password_file = {path}"));
        }
        catch (BelayException e)
        {
            throw new FatalSpawnException(e.Message, e);
        }
        text = text.EndsWith("\r\n", StringComparison.Ordinal) ? text[..^2] : text.EndsWith('\n') ? text[..^1] : text;
        return text.Length > 0 ? text : throw new FatalSpawnException($"password_file = {path}: it is empty; put the account's password in it");
    }
}
