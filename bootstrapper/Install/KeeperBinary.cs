using Belay.Core;

namespace Belay.Bootstrapper.Install;

/// <summary>
/// The belay-keeper executable this belay carries (an embedded resource the build adds: the keeper
/// published for the same RID just before belay), which `belay install` lays out as bin/belay-keeper
/// and `belay run` execs on Unix. Windows runs the keeper inside belay.exe and carries none.
/// </summary>
internal static class KeeperBinary
{
    public const string ResourceName = "belay-keeper";

    /// <summary>The keeper's bytes; null on Windows; a clear error for a belay built without one.</summary>
    public static byte[]? Read()
    {
        if (OperatingSystem.IsWindows())
        {
            return null;
        }
        using var stream = typeof(KeeperBinary).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new BelayException($"this belay was built without its keeper (the {ResourceName} resource): build it with ./build.sh publish, which embeds it");
        using var bytes = new MemoryStream((int)stream.Length);
        stream.CopyTo(bytes);
        return bytes.ToArray();
    }
}
