namespace Belay.Core.Services;

/// <summary>What an SMF runner does with the keeper's service (<see cref="SmfManifest.Commands"/>).</summary>
public enum SmfOperation
{
    /// <summary>Validate and import the manifest, then enable the instance and wait for it.</summary>
    Install,

    /// <summary>Disable the instance and wait for it to stop, then delete the service.</summary>
    Uninstall,

    /// <summary>Print the instance's state (online, offline, maintenance, ...).</summary>
    Status,

    /// <summary>Take the instance out of maintenance once its cause is fixed.</summary>
    Clear,
}
