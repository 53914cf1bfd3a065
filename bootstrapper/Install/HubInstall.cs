using Belay.Core;
using Belay.Core.Hosting;
using Belay.Core.Hub;
using Belay.Core.Install;
using Belay.Core.IO;

namespace Belay.Bootstrapper.Install;

/// <summary>What `belay install` was told about a hub: --hub URL --enroll-token T [--hub-ca FILE].</summary>
internal sealed record HubRequest(string Url, string? EnrollToken, string? CaPem, bool AllowInsecureHttp);

/// <summary>
/// The hub part of `belay install`. Enrollment runs before anything is written (a refused token
/// is exit 3 and leaves the host as it was); hub.json is written with the rest of the install
/// (owner-only; the credential DPAPI-protected on Windows). A re-run against the hub this host is
/// already enrolled with keeps its credential: the same command line twice does not use up a
/// single-use token. The agent picks up a new or changed hub.json by itself.
/// </summary>
internal static class HubInstall
{
    public static async Task<HubSettings?> EnrollAsync(HubRequest? hub, InstallLayout layout, string hostId, OwnerOnlyScope scope, Action<string> say,
        CancellationToken cancellationToken)
    {
        if (hub is null)
        {
            return null;
        }
        HubSettings.CheckUrl(hub.Url, hub.AllowInsecureHttp);
        var path = HubSettings.PathIn(layout);
        var existing = File.Exists(path) ? TryLoad(path) : null;
        if (existing is not null && SameHub(existing.Url, hub.Url))
        {
            say($"already enrolled with the hub {existing.Url} as host {existing.HostId} (group {existing.Group}); keeping that credential");
            if (hub.CaPem != existing.CaPem && hub.CaPem is not null)
            {
                existing.CaPem = hub.CaPem;
                return existing;
            }
            return null;
        }
        if (string.IsNullOrEmpty(hub.EnrollToken))
        {
            throw new BelayException(ExitCodes.Usage, "--hub needs --enroll-token (from belay-hub token create) to enroll this host");
        }
        var enrolled = await HubEnrollment.EnrollAsync(hub.Url, hub.EnrollToken, hub.CaPem, hub.AllowInsecureHttp, HostFacts.Read(hostId), BuildInfo.Version,
            cancellationToken).ConfigureAwait(false);
        say($"enrolled with the hub {hub.Url} as host {enrolled.HostId} in group {enrolled.Group}");
        var settings = new HubSettings { Url = hub.Url, HostId = enrolled.HostId, Group = enrolled.Group, CaPem = hub.CaPem, AllowInsecureHttp = hub.AllowInsecureHttp };
        settings.SetCredential(enrolled.Credential, scope);
        return settings;
    }

    /// <summary>
    /// The group of a host that this install enrolled: one group, the deploy group and the hub's the same. Without
    /// --group a newly enrolled host (not one that was in a group already) joins the group of its enrollment token;
    /// with a --group that differs it runs the apps of that group, and says so. Null: the group stays as chosen.
    /// </summary>
    public static string? GroupFor(string? requested, string? existing, HubSettings? enrolled, Action<string> say)
    {
        if (enrolled is null || string.IsNullOrEmpty(enrolled.Group))
        {
            return null;
        }
        if (requested is not null)
        {
            if (requested != enrolled.Group)
            {
                say($"note: the enrollment token is for group {enrolled.Group}; this host runs the apps of group {requested} (--group), and the hub shows that");
            }
            return null;
        }
        if (existing is not null)
        {
            return null;
        }
        if (!Core.Deploy.DeployNames.IsValidGroup(enrolled.Group))
        {
            say($"note: the enrollment token's group '{enrolled.Group}' is not a deployment group name ({Core.Deploy.DeployNames.GroupRule}); this host runs the apps of group {Core.Deploy.DeployNames.DefaultGroup}");
            return null;
        }
        return enrolled.Group;
    }

    public static void Save(HubSettings? settings, InstallLayout layout, OwnerOnlyScope scope)
    {
        settings?.Save(HubSettings.PathIn(layout), scope);
    }

    private static HubSettings? TryLoad(string path)
    {
        try
        {
            return HubSettings.TryLoad(path);
        }
        catch (BelayException)
        {
            return null; // an unreadable one is replaced by a new enrollment
        }
    }

    private static bool SameHub(string a, string b) => string.Equals(a.TrimEnd('/'), b.TrimEnd('/'), StringComparison.OrdinalIgnoreCase);
}
