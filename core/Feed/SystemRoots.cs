using System.Security.Cryptography.X509Certificates;

namespace Belay.Core.Feed;

/// <summary>
/// Loads the system's root certificates ahead of a process's first TLS handshake, so that the load runs beside the
/// process's own start instead of after the server's certificate arrives.
/// </summary>
/// <remarks>
/// <para>On Linux, .NET checks a server's chain against the roots it reads itself, once per process (and again after
/// five minutes when a chain is built): every certificate of the bundle file and every file of the certificates folder,
/// parsed and deduplicated (Debian: 144 roots in ca-certificates.crt plus 146 links and the bundle again in
/// /etc/ssl/certs). Measured with a NativeAOT program on the 2-core bench machine: 83–94 ms, 41–44 ms for the bundle
/// alone. `belay install` and the agent it starts each paid it on the one-liner's path, after their connection was
/// made (docs/architecture.md, "Footprint").</para>
/// <para>Nothing about what is trusted changes: the same roots, loaded by the same code, only earlier. A caller
/// that is about to make a TLS connection awaits <see cref="WhenLoaded"/> first: the runtime's cache, asked by a second
/// thread while the first is still loading, loads everything a second time.</para>
/// <para>Other systems ask the operating system per chain (macOS, Windows): nothing to do there.</para>
/// </remarks>
public static class SystemRoots
{
    private static readonly RootPreloader Process = new(LoadMachineRoots, OperatingSystem.IsLinux() || OperatingSystem.IsFreeBSD());

    /// <summary>Starts loading the roots on a pool thread, once per process; later calls do nothing.</summary>
    public static void Preload() => Process.Preload();

    /// <summary>Preloads when any of <paramref name="addresses"/> is an https:// or wss:// URL (a feed or a hub).</summary>
    public static void PreloadFor(IEnumerable<string?> addresses) => Process.PreloadFor(addresses);

    /// <summary>Completes when a load that <see cref="Preload"/> started is done (at once when none was started).
    /// Never faults: a store that cannot be read fails the handshake itself, with the runtime's own error.</summary>
    public static Task WhenLoaded => Process.WhenLoaded;

    private static void LoadMachineRoots()
    {
        // LocalMachine\Root is the cache the chain builder reads (OpenSslCachedSystemStoreProvider): listing it loads it.
        using var store = new X509Store(StoreName.Root, StoreLocation.LocalMachine);
        store.Open(OpenFlags.ReadOnly);
        foreach (var root in store.Certificates)
        {
            root.Dispose();
        }
    }
}

/// <summary>The logic behind <see cref="SystemRoots"/>, apart from the process-wide store it loads.</summary>
public sealed class RootPreloader(Action load, bool needed)
{
    private readonly Lock _gate = new();
    private Task? _loading;

    public void Preload()
    {
        if (!needed)
        {
            return;
        }
        lock (_gate)
        {
            _loading ??= Task.Run(LoadQuietly);
        }
    }

    public void PreloadFor(IEnumerable<string?> addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        if (addresses.Any(a => a is not null && (a.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || a.StartsWith("wss://", StringComparison.OrdinalIgnoreCase))))
        {
            Preload();
        }
    }

    public Task WhenLoaded
    {
        get
        {
            lock (_gate)
            {
                return _loading ?? Task.CompletedTask;
            }
        }
    }

    private void LoadQuietly()
    {
        try
        {
            load();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Never a failure of its own: the handshake reads the store again and reports what is wrong in its own words.
        }
    }
}
