using System.Net.NetworkInformation;
using System.Runtime.InteropServices;

namespace Belay.Core.Hosting;

/// <summary>What a host is, as `belay status` reports it (DESIGN.md: host {id, hostname, os, arch, macs}).</summary>
public sealed record HostFacts(string Id, string Hostname, string Os, string Arch, string Rid, IReadOnlyList<string> Macs)
{
    /// <summary>Reads the facts of this host; <paramref name="hostId"/> is Belay's own id for it.</summary>
    public static HostFacts Read(string hostId) => new(
        hostId,
        Environment.MachineName,
        RuntimeInformation.OSDescription,
        RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant(),
        RuntimeInformation.RuntimeIdentifier,
        ReadMacs());

    /// <summary>MAC addresses of the non-loopback interfaces, as aa:bb:cc:dd:ee:ff, sorted.</summary>
    public static IReadOnlyList<string> ReadMacs()
    {
        try
        {
            return [.. NetworkInterface.GetAllNetworkInterfaces()
                .Where(n => n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
                .Select(n => n.GetPhysicalAddress().GetAddressBytes())
                .Where(b => b.Length == 6 && b.Any(x => x != 0))
                .Select(b => string.Join(':', b.Select(x => x.ToString("x2", System.Globalization.CultureInfo.InvariantCulture))))
                .Distinct()
                .Order(StringComparer.Ordinal)];
        }
        catch (NetworkInformationException)
        {
            return [];
        }
    }
}
