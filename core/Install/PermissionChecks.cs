using System.Globalization;
using System.Runtime.Versioning;
using Belay.Core.IO;

namespace Belay.Core.Install;

/// <summary>One check of `belay doctor`: what was checked, whether it is fine, and what to run when not.</summary>
public sealed record Finding(string Check, bool Ok, string Detail, string? Fix = null)
{
    /// <summary>A problem only worth a mention (it does not fail doctor).</summary>
    public bool Warning { get; init; }
}

/// <summary>
/// The file permissions an installation must have (DESIGN.md, "On-disk layout"; docs/security.md):
/// binaries owned by root (the installing user in user scope) and writable by nobody else, so
/// that only root can change what the keeper runs as root; config holding secrets (config.json,
/// programs.conf, the group identity) 0600; the
/// state folder (trust record, watermark, control sockets) 0700. Run by `belay doctor` and
/// right after `belay install`.
/// </summary>
[UnsupportedOSPlatform("windows")]
public static class PermissionChecks
{
    private const int TypeMask = 0xF000;
    private const int SymbolicLink = 0xA000;
    private const int GroupOrOtherWrite = 0x12; // 0o022
    private const int GroupOrOtherAny = 0x3F;   // 0o077

    public static IReadOnlyList<Finding> Check(InstallLayout layout, InstallScope scope, Func<string, (uint Uid, uint Gid, int Mode)?>? stat = null, uint? owner = null)
    {
        ArgumentNullException.ThrowIfNull(layout);
        stat ??= FileOwner.LStat;
        var expected = owner ?? (scope == InstallScope.System ? 0u : FileOwner.EffectiveUid);
        var who = expected == 0 ? "root" : $"uid {expected.ToString(CultureInfo.InvariantCulture)}";
        var findings = new List<Finding>();

        var binaries = new List<string> { layout.BinRoot, Path.GetDirectoryName(layout.BelayExe)!, layout.BelayExe, layout.VersionsDir };
        if (!OperatingSystem.IsWindows() && stat(layout.KeeperExe) is not null)
        {
            binaries.Add(layout.KeeperExe); // what `belay run` execs (an installation older than it has none)
        }
        if (Directory.Exists(layout.VersionsDir))
        {
            foreach (var dir in Directory.EnumerateDirectories(layout.VersionsDir).Where(d => !Path.GetFileName(d).StartsWith('.')).Order(StringComparer.Ordinal))
            {
                binaries.Add(dir);
                binaries.AddRange(Directory.EnumerateFiles(dir).Order(StringComparer.Ordinal));
            }
        }
        foreach (var path in binaries)
        {
            if (stat(path) is not { } s)
            {
                findings.Add(new Finding("binaries", false, $"{path} is missing or cannot be examined", "reinstall: belay install --feed URL"));
                continue;
            }
            if ((s.Mode & TypeMask) == SymbolicLink)
            {
                findings.Add(new Finding("binaries", false, $"{path} is a symbolic link; Belay never makes one there", $"remove it and reinstall: rm {path}"));
                continue;
            }
            var problems = new List<string>();
            if (s.Uid != expected)
            {
                problems.Add($"owned by uid {s.Uid.ToString(CultureInfo.InvariantCulture)}, not {who}");
            }
            if ((s.Mode & GroupOrOtherWrite) != 0)
            {
                problems.Add($"writable by {((s.Mode & 0x10) != 0 ? "group" : "")}{((s.Mode & 0x12) == 0x12 ? " and " : "")}{((s.Mode & 0x02) != 0 ? "others" : "")} (mode {Octal(s.Mode)})");
            }
            findings.Add(problems.Count == 0
                ? new Finding("binaries", true, $"{path}: {who}, mode {Octal(s.Mode)}")
                : new Finding("binaries", false, $"{path}: {string.Join("; ", problems)}: whoever can write it runs code as {who}",
                    $"chown {(expected == 0 ? "root" : expected.ToString(CultureInfo.InvariantCulture))} {path} && chmod go-w {path}"));
        }

        foreach (var secret in new[] { layout.ConfigFile, Path.Combine(layout.ConfigDir, "programs.conf"), layout.GroupIdentityFile })
        {
            if (stat(secret) is not { } s)
            {
                if (secret == layout.ConfigFile)
                {
                    findings.Add(new Finding("config", false, $"{secret} is missing", "reinstall: belay install --feed URL"));
                }
                continue;
            }
            findings.Add((s.Mode & GroupOrOtherAny) == 0 && s.Uid == expected
                ? new Finding("config", true, $"{secret}: mode {Octal(s.Mode)}")
                : new Finding("config", false, $"{secret}: mode {Octal(s.Mode)}, owner uid {s.Uid.ToString(CultureInfo.InvariantCulture)}: " +
                    (secret == layout.GroupIdentityFile ? "it is the key to the group's secrets" : "it may hold a token") + $" and must be readable by {who} alone",
                    $"chown {(expected == 0 ? "root" : expected.ToString(CultureInfo.InvariantCulture))} {secret} && chmod 600 {secret}"));
        }

        if (stat(layout.StateDir) is { } state)
        {
            findings.Add((state.Mode & GroupOrOtherAny) == 0 && state.Uid == expected
                ? new Finding("state", true, $"{layout.StateDir}: mode {Octal(state.Mode)}")
                : new Finding("state", false, $"{layout.StateDir}: mode {Octal(state.Mode)}, owner uid {state.Uid.ToString(CultureInfo.InvariantCulture)}: it holds the trust record and the keeper's socket, for {who} alone",
                    $"chown {(expected == 0 ? "root" : expected.ToString(CultureInfo.InvariantCulture))} {layout.StateDir} && chmod 700 {layout.StateDir}"));
        }
        else
        {
            findings.Add(new Finding("state", false, $"{layout.StateDir} is missing", "reinstall: belay install --feed URL"));
        }
        return findings;
    }

    private static string Octal(int mode) => "0" + Convert.ToString(mode & 0xFFF, 8);
}
