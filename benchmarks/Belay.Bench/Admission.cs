using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Belay.Bench;

/// <summary>
/// The rollout formula, a contract of the feed (DESIGN.md; core/Update/UpdatePolicy.IsAdmitted,
/// whose doc comment says other clients may depend on it): a host is admitted to a version when
/// the first 8 bytes of SHA-256(UTF-8(hostId + ":" + version)), big-endian, mod 100 are below
/// the percent. Restated here rather than referenced, so that building the bench never
/// rebuilds Belay.Core with other restore settings than the publish (which would make the
/// next publish redo every NativeAOT compile).
/// </summary>
internal static class Admission
{
    public static bool IsAdmitted(string hostId, string version, int percent)
    {
        if (percent <= 0)
        {
            return false;
        }
        if (percent >= 100)
        {
            return true;
        }
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(hostId + ":" + version));
        return BinaryPrimitives.ReadUInt64BigEndian(hash) % 100 < (ulong)percent;
    }

    /// <summary>Orders the plain MAJOR.MINOR.PATCH versions the bench publishes (no pre-releases).</summary>
    public static Version Order(string version) => Version.Parse(Versions.Core(version));
}
