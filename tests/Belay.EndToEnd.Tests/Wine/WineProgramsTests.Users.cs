namespace Belay.EndToEnd.Tests.Wine;

/// <summary>
/// <c>user</c> on Windows as far as Wine 8 runs it. Wine's LookupAccountNameW is real (well-known names, its one
/// user, groups, ERROR_NONE_MAPPED for an unknown name), its LogonUserW is a stub that succeeds for any name and
/// password with a made-up token (0xdeadbeef), and CreateProcessAsUserW refuses that token (ERROR_INVALID_HANDLE), so
/// no program ever starts as another account here; what ran is every refusal before the logon, the logon's call,
/// and a failed CreateProcessAsUser handled as a spawn error with nothing left open. Wine's ACL read-back is never
/// protected (WineSecretAclTests), so a password file is refused as not owner-only. docs/platforms.md says so.
/// </summary>
public sealed partial class WineProgramsTests
{
    private static readonly string[] AsOtherAccounts = ["asservice", "nobody", "grouped", "nopassword", "openpassword"];

    private static void CheckOtherAccounts(Dictionary<string, Status> programs)
    {
        Assert.All(AsOtherAccounts, n => Assert.Null(programs[n].Pid));
        // LocalService: LookupAccountName finds NT AUTHORITY\LocalService, LogonUser (Wine's stub) says yes without a
        // password, CreateProcessAsUser refuses the stub's token: a spawn error, fatal after fatal_after = 1.
        Assert.StartsWith("spawn error: CreateProcessAsUser failed: Windows error 6", programs["asservice"].LastExit, StringComparison.Ordinal);
        // Refused before any logon, fatal at once (not after fatal_after failures) with what to do.
        Assert.StartsWith("spawn error: user = nosuchuser: there is no such account on this machine or its domain", programs["nobody"].LastExit, StringComparison.Ordinal);
        Assert.Contains(@"\Users is not a user account", programs["grouped"].LastExit, StringComparison.Ordinal);
        Assert.Contains("needs the account's password", programs["nopassword"].LastExit, StringComparison.Ordinal);
        Assert.Contains(@"password_file = C:\tools\password.txt: anyone it lets read it can log on as the account, so it must be readable only by SYSTEM and Administrators",
            programs["openpassword"].LastExit, StringComparison.Ordinal);
        Assert.All(["nobody", "grouped", "nopassword", "openpassword"], n => Assert.Equal(0, programs[n].Restarts));
    }
}
