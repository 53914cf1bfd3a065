using Belay.Core.IO;
using Belay.Core.Programs;
using Belay.Core.Programs.Windows;
using Belay.TestSupport;

namespace Belay.Core.Tests.Programs.Windows;

/// <summary>A program's <c>user</c> on Windows: the LookupAccountName, LogonUser, CreateProcessAsUser sequence and each way it is refused, through a fake.</summary>
public sealed class ProgramLogonTests : IDisposable
{
    private readonly FakeProcessApi _api = new();
    private readonly List<string> _passwordReads = [];
    private readonly string _dir = Directory.CreateTempSubdirectory("belay-logon-").FullName;

    public ProgramLogonTests()
    {
        _api.Accounts["LocalService"] = new AccountLookup("NT AUTHORITY", Win32.SidTypeWellKnownGroup);
        _api.Accounts[@"NT AUTHORITY\NetworkService"] = new AccountLookup("NT AUTHORITY", Win32.SidTypeWellKnownGroup);
        _api.Accounts["appuser"] = new AccountLookup("HOST1", Win32.SidTypeUser);
        _api.Accounts[@"CORP\svc-app"] = new AccountLookup("CORP", Win32.SidTypeUser);
        _api.Accounts["Users"] = new AccountLookup("BUILTIN", 4);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static JobStart Start() => new(@"C:\app\app.exe", @"C:\app", ProgramJobs.EnvironmentBlock([new("A", "1")]), SeparateStderr: false);

    private JobProgram Run(string user, string? passwordFile = null) =>
        new ProgramLogon(_api).Start(new ProgramJobs(_api), Start(), "p", user, passwordFile, path =>
        {
            _passwordReads.Add(path);
            return "s3cret";
        });

    [Fact]
    public void LocalService_is_logged_on_without_a_password_and_the_program_starts_with_its_token_in_its_own_job_and_the_token_is_closed()
    {
        var program = Run("LocalService");

        Assert.Equal(
        [
            "LookupAccount LocalService",
            @"LogonUser NT AUTHORITY\LocalService password (none) -> 100",
            "CreateJob -> 101",
            "SetJobLimits 101 0x2000",
            "CreateInboundPipe p-out -> 102",
            "OpenPipeForWriting p-out -> 103",
            "OpenNul -> 104",
            @"CreateProcess C:\app\app.exe flags 0x09000204 dir C:\app in 104 out 103 err 103 -> process 105 thread 106 pid 4242 as token 100 desktop ''",
            "AssignToJob 101 105",
            "ResumeThread 106",
            "CloseHandle 106",
            "CloseHandle 103",
            "CloseHandle 104",
            "CloseHandle 100",
        ], _api.Calls);
        Assert.Equal(new JobProgram(4242, 777, 101, 105, 102, 0), program);
        Assert.Empty(_passwordReads);
        Assert.Equal([101, 102, 105], _api.Open.Order());
    }

    [Fact]
    public void Another_account_is_logged_on_in_its_domain_with_the_password_from_its_file()
    {
        Run(@"CORP\svc-app", @"C:\ProgramData\Belay\etc\svc-app.password");

        Assert.Equal([@"C:\ProgramData\Belay\etc\svc-app.password"], _passwordReads);
        Assert.Equal(@"LogonUser CORP\svc-app password s3cret -> 100", _api.Calls[1]);
        Assert.Contains(_api.Calls, c => c.EndsWith("as token 100 desktop ''", StringComparison.Ordinal));
        Assert.Equal("CloseHandle 100", _api.Calls[^1]);
    }

    [Fact]
    public void An_unknown_account_is_fatal_before_any_logon_and_says_to_create_it()
    {
        var e = Assert.Throws<FatalSpawnException>(() => Run("nosuchuser", "/x"));
        Assert.Contains("user = nosuchuser: there is no such account on this machine or its domain", e.Message, StringComparison.Ordinal);
        Assert.Contains("Windows error 1332", e.Message, StringComparison.Ordinal);
        Assert.Equal(["LookupAccount nosuchuser"], _api.Calls);
        Assert.Empty(_passwordReads);
    }

    [Fact]
    public void A_group_is_not_an_account_to_run_as()
    {
        var e = Assert.Throws<FatalSpawnException>(() => Run("Users"));
        Assert.Contains(@"BUILTIN\Users is not a user account", e.Message, StringComparison.Ordinal);
        Assert.Equal(["LookupAccount Users"], _api.Calls);
    }

    [Fact]
    public void An_account_with_a_password_and_no_password_file_is_fatal_and_says_where_the_password_goes()
    {
        var e = Assert.Throws<FatalSpawnException>(() => Run("appuser"));
        Assert.Contains("needs the account's password", e.Message, StringComparison.Ordinal);
        Assert.Contains("password_file", e.Message, StringComparison.Ordinal);
        Assert.Equal(["LookupAccount appuser"], _api.Calls);
        Assert.Empty(_api.Open);
    }

    [Fact]
    public void A_password_file_for_a_service_account_is_refused()
    {
        var e = Assert.Throws<FatalSpawnException>(() => Run(@"NT AUTHORITY\NetworkService", "/p"));
        Assert.Contains("NetworkService has no password", e.Message, StringComparison.Ordinal);
        Assert.Empty(_passwordReads);
    }

    [Theory]
    [InlineData(1326, "the password in /p is not the account's")]
    [InlineData(1385, "may not log on as a service (LogonUser failed: the user has not been granted the requested logon type (Windows error 1385) (appuser)); grant it \"Log on as a service\" (SeServiceLogonRight")]
    [InlineData(1314, "the agent's account may not log another account on")]
    [InlineData(1331, "Windows refused to log the account on (LogonUser failed: the account is disabled (Windows error 1331)")]
    public void A_refused_logon_is_fatal_and_says_what_to_fix(int error, string expected)
    {
        _api.FailLogon = error;
        var e = Assert.Throws<FatalSpawnException>(() => Run("appuser", "/p"));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_api.Calls, c => c.StartsWith("CreateJob", StringComparison.Ordinal));
        Assert.Empty(_api.Open);
    }

    [Fact]
    public void Without_the_privileges_to_start_as_another_account_the_program_is_fatal_and_nothing_is_left_open()
    {
        _api.FailCreateAsUser = Win32.ErrorPrivilegeNotHeld;
        var e = Assert.Throws<FatalSpawnException>(() => Run("LocalService"));
        Assert.Contains("SeAssignPrimaryTokenPrivilege or SeIncreaseQuotaPrivilege", e.Message, StringComparison.Ordinal);
        Assert.Contains("run the agent as the Belay service", e.Message, StringComparison.Ordinal);
        Assert.Empty(_api.Open);
        Assert.Equal("CloseHandle 100", _api.Calls[^1]);
    }

    [Fact]
    public void Another_create_process_as_user_error_is_the_windows_error_it_was_and_the_token_is_closed()
    {
        // What Wine does: its LogonUser is a stub that hands out a token CreateProcessAsUser then calls invalid (error 6),
        // and closing that token fails too.
        _api.FailCreateAsUser = Win32.ErrorInvalidHandle;
        _api.FailCloseToken = true;
        var e = Assert.Throws<WindowsCallException>(() => Run("LocalService"));
        Assert.Equal("CreateProcessAsUser", e.Call);
        Assert.Empty(_api.Open);
    }

    [Fact]
    public void A_password_file_must_be_owner_only_and_may_be_sealed_or_plain_with_one_line_break()
    {
        var security = new FakeFileSecurityApi();
        var acl = new OwnerOnlyAcl(security);
        var plain = Path.Combine(_dir, "plain");
        File.WriteAllText(plain, "pa ss\r\n");
        security.Dacls[plain] = OwnerOnlyAcl.Sddl(OwnerOnlyScope.System);
        Assert.Equal("pa ss", ProgramLogon.ReadPassword(plain, acl, OwnerOnlyScope.System, null));

        var sealedFile = Path.Combine(_dir, "sealed");
        var protection = new SecretProtection(new FakeDataProtection(), OwnerOnlyScope.System);
        File.WriteAllBytes(sealedFile, protection.Seal("word\n"u8, "t"));
        security.Dacls[sealedFile] = OwnerOnlyAcl.Sddl(OwnerOnlyScope.System);
        Assert.Equal("word", ProgramLogon.ReadPassword(sealedFile, acl, OwnerOnlyScope.System, protection));

        security.Dacls[plain] = "D:(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;BU)";
        var open = Assert.Throws<FatalSpawnException>(() => ProgramLogon.ReadPassword(plain, acl, OwnerOnlyScope.System, null));
        Assert.Contains("must be readable only by SYSTEM and Administrators", open.Message, StringComparison.Ordinal);
        Assert.Contains("it also allows A;;FR;;;BU", open.Message, StringComparison.Ordinal);
        Assert.Contains("icacls", open.Message, StringComparison.Ordinal);

        var missing = Assert.Throws<FatalSpawnException>(() => ProgramLogon.ReadPassword(Path.Combine(_dir, "none"), acl, OwnerOnlyScope.System, null));
        Assert.Contains("cannot read it (no such file or folder)", missing.Message, StringComparison.Ordinal);

        var empty = Path.Combine(_dir, "empty");
        File.WriteAllText(empty, "\n");
        security.Dacls[empty] = OwnerOnlyAcl.Sddl(OwnerOnlyScope.System);
        Assert.Contains("it is empty", Assert.Throws<FatalSpawnException>(() => ProgramLogon.ReadPassword(empty, acl, OwnerOnlyScope.System, null)).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("LocalService", true)]
    [InlineData(@"nt authority\networkservice", true)]
    [InlineData("Network Service", true)]
    [InlineData("appuser", false)]
    [InlineData(@"CORP\LocalService", false)]
    public void The_service_accounts_are_known_by_name(string user, bool service) => Assert.Equal(service, ProgramLogon.IsServiceAccount(user));
}
