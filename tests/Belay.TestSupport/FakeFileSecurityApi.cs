using Belay.Core.IO;

namespace Belay.TestSupport;

/// <summary>
/// Stands in for advapi32's file-security calls: records each call in order (one line each), hands out
/// fake descriptor handles that remember their SDDL, keeps the DACL "set" on each path, and fails a
/// call on request, so tests on Linux check what Belay asks Windows for.
/// </summary>
public sealed class FakeFileSecurityApi : IFileSecurityApi
{
    private readonly Dictionary<nint, string> _descriptors = [];
    private nint _next = 0x1000;

    public List<string> Calls { get; } = [];

    /// <summary>For each path whose DACL was set: its size on disk at that moment (-1 when no such file), to show a secret was not in it yet.</summary>
    public Dictionary<string, long> SizeWhenSet { get; } = new(StringComparer.Ordinal);

    /// <summary>The DACL each path has, as SDDL; preset one to simulate a file as found.</summary>
    public Dictionary<string, string> Dacls { get; } = new(StringComparer.Ordinal);

    public string UserSid { get; set; } = "S-1-5-21-1004336348-1177238915-682003330-1001";

    /// <summary>When set, SetFileDacl fails with this Win32 error.</summary>
    public int? FailSetWith { get; set; }

    public int LastError { get; private set; }

    /// <summary>Descriptors handed out and not freed yet.</summary>
    public int Outstanding => _descriptors.Count;

    public string CurrentUserSid()
    {
        Calls.Add("CurrentUserSid");
        return UserSid;
    }

    public nint SecurityDescriptorFromSddl(string sddl)
    {
        Calls.Add($"ConvertStringSecurityDescriptorToSecurityDescriptorW {sddl}");
        var handle = _next++;
        _descriptors[handle] = sddl;
        return handle;
    }

    public bool SetFileDacl(string path, nint descriptor)
    {
        Calls.Add($"SetFileSecurityW {path}");
        if (FailSetWith is { } error)
        {
            LastError = error;
            return false;
        }
        Dacls[path] = _descriptors[descriptor];
        SizeWhenSet[path] = File.Exists(path) ? new FileInfo(path).Length : -1;
        return true;
    }

    public string? GetFileDaclSddl(string path)
    {
        Calls.Add($"GetFileSecurityW {path}");
        if (Dacls.TryGetValue(path, out var sddl))
        {
            return sddl;
        }
        LastError = 2; // ERROR_FILE_NOT_FOUND
        return null;
    }

    public void LocalFree(nint memory)
    {
        Calls.Add("LocalFree");
        _descriptors.Remove(memory);
    }
}
