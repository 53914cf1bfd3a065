using Belay.Core.Hub;
using Belay.Core.IO;

namespace Belay.Core.Install;

/// <summary>
/// The three secrets a Windows host keeps (config.json's token, hub.json's credential, the group identity)
/// under DPAPI on top of their owner-only ACL (<see cref="SecretProtection"/>). Belay writes them protected;
/// a file written before (in clear) still reads, and <see cref="ProtectPlain"/>, which the agent runs at
/// start on Windows, rewrites it protected. <see cref="Check"/> is `belay doctor`'s half of it: each secret
/// is protected and unprotects on this machine.
/// </summary>
public static class SecretsAtRest
{
    /// <summary>Rewrites protected each secret found in clear; returns one line per file it rewrote (for the log, never a value).</summary>
    public static IReadOnlyList<string> ProtectPlain(InstallLayout layout, SecretProtection protection, OwnerOnlyAcl? acl = null)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(protection);
        var done = new List<string>();
        if (File.Exists(layout.ConfigFile))
        {
            var config = InstallConfig.Parse(File.ReadAllBytes(layout.ConfigFile), layout.ConfigFile, protection);
            if (config.TokenInClear)
            {
                config.Save(layout.ConfigFile, protection, acl);
                done.Add($"{layout.ConfigFile}: the token is now DPAPI-protected");
            }
        }
        var hubPath = HubSettings.PathIn(layout);
        if (HubSettings.TryLoad(hubPath) is { } hub && hub.ProtectPlain(protection))
        {
            hub.Save(hubPath, protection.Scope, acl);
            done.Add($"{hubPath}: the hub credential is now DPAPI-protected");
        }
        var identity = layout.GroupIdentityFile;
        if (File.Exists(identity) && File.ReadAllBytes(identity) is var content && !SecretProtection.IsSealed(content))
        {
            AtomicFile.WriteSecret(identity, protection.Seal(content, identity), protection.Scope, acl);
            done.Add($"{identity}: the group identity is now DPAPI-protected");
        }
        return done;
    }

    /// <summary>One finding ("secrets") per secret the host holds: protected, and unprotecting on this machine.</summary>
    public static IReadOnlyList<Finding> Check(InstallLayout layout, SecretProtection protection)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(protection);
        const string Fix = "restart the service (the agent protects what it finds in clear when it starts), or run belay install again with this installation's options";
        var findings = new List<Finding>();
        if (File.Exists(layout.ConfigFile))
        {
            var config = InstallConfig.Parse(File.ReadAllBytes(layout.ConfigFile), layout.ConfigFile, protection);
            findings.Add(config switch
            {
                { TokenInClear: true } => new Finding("secrets", false, $"{layout.ConfigFile} holds the token in clear", Fix),
                { TokenProblem: { } problem } => new Finding("secrets", false, problem, "set the token again: belay install with this installation's options and the token"),
                { TokenDpapi: { Length: > 0 } } => new Finding("secrets", true, $"{layout.ConfigFile}: the token is DPAPI-protected and unprotects here"),
                _ => new Finding("secrets", true, $"{layout.ConfigFile} holds no token"),
            });
        }
        var hubPath = HubSettings.PathIn(layout);
        HubSettings? hub = null;
        try
        {
            hub = HubSettings.TryLoad(hubPath);
        }
        catch (BelayException e)
        {
            findings.Add(new Finding("secrets", false, e.Message, "belay install --hub URL --enroll-token TOKEN"));
        }
        if (hub is not null)
        {
            findings.Add(Probe(hubPath, "the hub credential", () => hub.NeedsProtection(protection), () => hub.ReadCredential(protection), Fix));
        }
        var identity = layout.GroupIdentityFile;
        if (File.Exists(identity))
        {
            var content = File.ReadAllBytes(identity);
            findings.Add(Probe(identity, "the group identity", () => !SecretProtection.IsSealed(content), () => SecretProtection.Open(content, protection, identity), Fix));
        }
        return findings;
    }

    private static Finding Probe(string path, string what, Func<bool> inClear, Action read, string fix)
    {
        if (inClear())
        {
            return new Finding("secrets", false, $"{path} holds {what} in clear", fix);
        }
        try
        {
            read();
            return new Finding("secrets", true, $"{path}: {what} is DPAPI-protected and unprotects here");
        }
        catch (BelayException e)
        {
            return new Finding("secrets", false, e.Message, $"{what} must be given again: belay install with this installation's options");
        }
    }
}
