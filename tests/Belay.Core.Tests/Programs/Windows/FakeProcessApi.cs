using Belay.Core.Programs.Windows;

namespace Belay.Core.Tests.Programs.Windows;

/// <summary>Records the Win32 calls of <see cref="IWindowsProcessApi"/> as Windows would see them; handles are numbers from 100 up.</summary>
internal sealed class FakeProcessApi : IWindowsProcessApi
{
    private nint _next = 100;

    public List<string> Calls { get; } = [];
    public HashSet<nint> Open { get; } = [];
    public Dictionary<nint, uint> ExitCodes { get; } = [];
    public string? Environment { get; private set; }
    public bool FailAssign { get; set; }
    public int FailCreate { get; set; }
    public bool DenyBreakaway { get; set; }

    private nint New()
    {
        var h = _next++;
        Open.Add(h);
        return h;
    }

    private nint Record(string call)
    {
        var h = New();
        Calls.Add($"{call} -> {h}");
        return h;
    }

    public nint CurrentProcess => -1;
    public nint CreateJob() => Record("CreateJob");
    public void SetJobLimits(nint job, uint limitFlags) => Calls.Add($"SetJobLimits {job} 0x{limitFlags:X}");

    public void AssignToJob(nint job, nint process)
    {
        Calls.Add($"AssignToJob {job} {process}");
        if (FailAssign)
        {
            throw new WindowsCallException("AssignProcessToJobObject", 5);
        }
    }

    public void TerminateJob(nint job, uint exitCode)
    {
        Calls.Add($"TerminateJob {job} {exitCode}");
        JobTerminated?.Invoke(job, exitCode);
    }

    /// <summary>Called by TerminateJob (a fake process in the job can end then).</summary>
    public Action<nint, uint>? JobTerminated { get; set; }
    public nint CreateInboundPipe(string name, uint bufferSize) => Record($"CreateInboundPipe {name}");
    public nint OpenPipeForWriting(string name) => Record($"OpenPipeForWriting {name}");
    public nint OpenNul() => Record("OpenNul");
    public nint OpenForAppend(string path) => Record($"OpenForAppend {path}");

    public CreatedProcess CreateProcess(string commandLine, uint flags, string environmentBlock, string directory, nint stdin, nint stdout, nint stderr,
        nint token, string? desktop)
    {
        if (FailCreate != 0)
        {
            throw new WindowsCallException("CreateProcess", FailCreate);
        }
        if (token != 0 && FailCreateAsUser != 0)
        {
            Calls.Add($"CreateProcessAsUser token {token} -> error {FailCreateAsUser}");
            throw new WindowsCallException("CreateProcessAsUser", FailCreateAsUser);
        }
        if (DenyBreakaway && (flags & Win32.CreateBreakawayFromJob) != 0)
        {
            throw new WindowsCallException("CreateProcess", Win32.ErrorAccessDenied);
        }
        Environment = environmentBlock;
        var process = New();
        var thread = New();
        Calls.Add($"CreateProcess {commandLine} flags 0x{flags:X8} dir {directory} in {stdin} out {stdout} err {stderr} -> process {process} thread {thread} pid 4242{(token == 0 ? "" : $" as token {token} desktop '{desktop}'")}");
        return new CreatedProcess(process, thread, 4242);
    }

    public void ResumeThread(nint thread) => Calls.Add($"ResumeThread {thread}");

    public void TerminateProcess(nint process, uint exitCode) => Calls.Add($"TerminateProcess {process} {exitCode}");
    /// <summary>The error OpenProcess fails with (0: it succeeds).</summary>
    public int FailOpenProcess { get; set; }

    public nint OpenProcess(uint access, int pid)
    {
        if (FailOpenProcess != 0)
        {
            Calls.Add($"OpenProcess {pid} -> error {FailOpenProcess}");
            throw new WindowsCallException("OpenProcess", FailOpenProcess);
        }
        var h = Record($"OpenProcess {pid}");
        Holders.Add(h);
        return h;
    }

    public int ProcessId(nint process) => ProgramPid;

    public uint ExitCode(nint process)
    {
        Calls.Add($"ExitCode {process}");
        return ExitCodes.TryGetValue(process, out var code) ? code : Win32.StillActive;
    }

    public long CreationTime(nint process) => Holders.Contains(process) ? HolderCreated : 777;

    /// <summary>The handles opened to a holder (the keeper), and the handle values the holder has.</summary>
    public HashSet<nint> Holders { get; } = [];
    public HashSet<long> Held { get; } = [];
    public long HolderCreated { get; set; } = 555;
    public int ProgramPid { get; set; } = 4242;

    public nint DuplicateHandle(nint sourceProcess, nint handle, nint targetProcess, bool closeSource)
    {
        if (closeSource)
        {
            Calls.Add($"CloseInHolder {handle}");
            Assert.True(Held.Remove(handle), $"holder handle {handle} closed twice or never held");
            return 0;
        }
        if (sourceProcess == CurrentProcess)
        {
            Assert.True(Open.Contains(handle), $"handle {handle} is not open");
            var copy = 9000 + Held.Count + Calls.Count;
            Held.Add(copy);
            Calls.Add($"HoldInKeeper {handle} -> {copy}");
            return copy;
        }
        Assert.True(Held.Contains(handle), $"the holder has no handle {handle}");
        return Record($"TakeBack {handle}");
    }

    public void CloseHandle(nint handle)
    {
        Calls.Add($"CloseHandle {handle}");
        if (FailCloseToken && handle == _token)
        {
            Open.Remove(handle);
            throw new WindowsCallException("CloseHandle", Win32.ErrorInvalidHandle);
        }
        Assert.True(Open.Remove(handle), $"handle {handle} closed twice or never opened");
    }

    /// <summary>What LookupAccountName answers for each name (case-insensitively); a name not here is ERROR_NONE_MAPPED.</summary>
    public Dictionary<string, AccountLookup> Accounts { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The error LogonUser fails with (0: it succeeds).</summary>
    public int FailLogon { get; set; }

    /// <summary>The error CreateProcessAsUser fails with (0: it succeeds).</summary>
    public int FailCreateAsUser { get; set; }

    /// <summary>Make CloseHandle of the token fail, as Wine's does on its stub token.</summary>
    public bool FailCloseToken { get; set; }

    private nint _token;

    public AccountLookup LookupAccount(string name)
    {
        Calls.Add($"LookupAccount {name}");
        return Accounts.TryGetValue(name, out var account) ? account : throw new WindowsCallException("LookupAccountName", Win32.ErrorNoneMapped, name);
    }

    public nint LogonUser(string user, string? domain, string? password)
    {
        if (FailLogon != 0)
        {
            Calls.Add($"LogonUser {domain}\\{user} password {password ?? "(none)"} -> error {FailLogon}");
            throw new WindowsCallException("LogonUser", FailLogon, user);
        }
        _token = Record($"LogonUser {domain}\\{user} password {password ?? "(none)"}");
        return _token;
    }
}
