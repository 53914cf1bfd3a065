using System.Text;
using Belay.Core.IO;

namespace Belay.TestSupport;

/// <summary>
/// Stands in for crypt32's DPAPI calls: records each call (one line each), "protects" by wrapping the
/// data in a marker that names this fake machine and the scope (and reverses it, so the clear text is
/// not in the blob), unprotects only its own machine's blobs, and fails on request, so tests on Linux
/// check what Belay asks Windows for.
/// </summary>
public sealed class FakeDataProtection(string host = "HOST1") : IDataProtectionApi
{
    public List<string> Calls { get; } = [];

    /// <summary>When set, CryptProtectData fails with this Win32 error.</summary>
    public int? FailProtectWith { get; set; }

    public int LastError { get; private set; }

    public byte[]? Protect(ReadOnlySpan<byte> data, bool machine)
    {
        Calls.Add($"CryptProtectData {(machine ? "LOCAL_MACHINE" : "user")} {data.Length} bytes");
        if (FailProtectWith is { } error)
        {
            LastError = error;
            return null;
        }
        var reversed = data.ToArray();
        Array.Reverse(reversed);
        return [.. Encoding.ASCII.GetBytes($"dpapi:{host}:{(machine ? "M" : "U")}:"), .. reversed];
    }

    public byte[]? Unprotect(ReadOnlySpan<byte> blob)
    {
        Calls.Add($"CryptUnprotectData {blob.Length} bytes");
        var prefix = Encoding.ASCII.GetBytes($"dpapi:{host}:");
        if (!blob.StartsWith(prefix) || blob.Length < prefix.Length + 2)
        {
            LastError = 13; // ERROR_INVALID_DATA
            return null;
        }
        var data = blob[(prefix.Length + 2)..].ToArray();
        Array.Reverse(data);
        return data;
    }
}
