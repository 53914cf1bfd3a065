using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Belay.Core.Feed;

namespace Belay.Core.Deploy;

/// <summary>
/// A host's choices over a verified group document that are pure: whether an app's rollout
/// admits this host, and which archive of a release is this host's. The document's
/// signature, group, sequence and expiry are checked before it gets here.
/// </summary>
public static class DeployPolicy
{
    /// <summary>
    /// Whether a rollout at <paramref name="percent"/> admits the host to <paramref name="version"/>
    /// of <paramref name="app"/>: the first 8 bytes of SHA-256(UTF-8(hostId + ":" + app + ":" + version)),
    /// read as a big-endian unsigned 64-bit integer, mod 100, is less than percent. The agent's
    /// own formula (<see cref="Update.UpdatePolicy.IsAdmitted"/>) with the app name mixed in, so
    /// that each app (and each version) draws its own sample of hosts: the first 10 % of one app
    /// are not always the first 10 % of every app. 0 admits nobody, 100 everybody, and raising
    /// the percent only adds hosts. A contract: tools that predict admission depend on it.
    /// </summary>
    public static bool IsAdmitted(string hostId, string app, string version, int percent)
    {
        ArgumentNullException.ThrowIfNull(hostId);
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(version);
        if (percent <= 0)
        {
            return false;
        }
        if (percent >= 100)
        {
            return true;
        }
        return Bucket(hostId, app, version) < percent;
    }

    /// <summary>The host's bucket, 0 to 99, for <paramref name="version"/> of <paramref name="app"/> (see <see cref="IsAdmitted"/>).</summary>
    public static int Bucket(string hostId, string app, string version)
    {
        ArgumentNullException.ThrowIfNull(hostId);
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(version);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(hostId + ":" + app + ":" + version));
        return (int)(BinaryPrimitives.ReadUInt64BigEndian(hash) % 100);
    }

    /// <summary>
    /// The archive of <paramref name="app"/> this host takes: the one for its own RID when the
    /// document has it, else the <c>any</c> one, else null (the app is not built for this host).
    /// </summary>
    public static (string Rid, ArtifactEntry Artifact)? ChooseArtifact(DesiredApp app, string hostRid)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(hostRid);
        if (app.Artifacts.TryGetValue(hostRid, out var own))
        {
            return (hostRid, own);
        }
        if (app.Artifacts.TryGetValue(FeedLayout.AnyRid, out var any))
        {
            return (FeedLayout.AnyRid, any);
        }
        return null;
    }
}
