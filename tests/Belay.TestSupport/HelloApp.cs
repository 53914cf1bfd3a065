namespace Belay.TestSupport;

/// <summary>
/// The demo app (samples/hello-app): a tiny HTTP server in C and its release folder
/// (belay-app.conf, hooks). The server is built once per test run with the C compiler that
/// NativeAOT needs anyway; <see cref="Release"/> copies the folder with the binary into a
/// test's own place, where the test may change belay-app.conf.
/// </summary>
public static class HelloApp
{
    private static readonly Lazy<string> Built = new(Build);

    public static string Source => Path.Combine(BelayBinaries.RepoRoot, "samples", "hello-app");

    /// <summary>The compiled server.</summary>
    public static string Binary => Built.Value;

    /// <summary>Copies the release folder into <paramref name="destination"/> (bin/hello, belay-app.conf, hooks/) and returns it.</summary>
    public static string Release(string destination)
    {
        Directory.CreateDirectory(Path.Combine(destination, "bin"));
        Directory.CreateDirectory(Path.Combine(destination, "hooks"));
        File.Copy(Binary, Path.Combine(destination, "bin", "hello"), overwrite: true);
        File.Copy(Path.Combine(Source, "belay-app.conf"), Path.Combine(destination, "belay-app.conf"), overwrite: true);
        foreach (var hook in Directory.EnumerateFiles(Path.Combine(Source, "hooks")))
        {
            var target = Path.Combine(destination, "hooks", Path.GetFileName(hook));
            File.Copy(hook, target, overwrite: true);
            File.SetUnixFileMode(target, (UnixFileMode)0b111_101_101);
        }
        return destination;
    }

    private static string Build()
    {
        var dir = Path.Combine(BelayBinaries.RepoRoot, "artifacts", "test-app");
        Directory.CreateDirectory(dir);
        var output = Path.Combine(dir, $"hello-{Environment.ProcessId}");
        var result = ExternalTool.Run("cc", ["-O2", "-o", output, Path.Combine(Source, "hello.c")]);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"cannot build the demo app: {result}");
        }
        return output;
    }
}
