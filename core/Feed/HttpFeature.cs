using System.Diagnostics.CodeAnalysis;

namespace Belay.Core.Feed;

/// <summary>
/// Whether this executable speaks HTTP itself (HttpClient, TLS) or leaves it to curl or wget
/// (<see cref="CommandFeedSource"/>). `belay` on Linux, macOS and SmartOS is published with the
/// switch off (bootstrapper/Belay.Bootstrapper.csproj): the compiler then drops HttpClient, TLS
/// and their native parts from it, which is what install.sh downloads (docs/architecture.md,
/// "Thirteenth round"). The agent, `belay-release`, the hub and Windows' `belay.exe` keep it on.
/// </summary>
public static class HttpFeature
{
    public const string Switch = "Belay.Http.IsSupported";

    [FeatureSwitchDefinition(Switch)]
    public static bool IsSupported => !AppContext.TryGetSwitch(Switch, out var on) || on;
}
