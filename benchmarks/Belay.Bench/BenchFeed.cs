using System.Diagnostics;
using System.Globalization;

namespace Belay.Bench;

/// <summary>
/// A feed written the way a publisher writes one: belay-release init, package and publish
/// with the developer keys in .keys/ (the ones the build compiled into belay and
/// belay-agent), as scripts/demo.sh and the end-to-end tests do.
/// </summary>
internal sealed class BenchFeed
{
    private readonly BenchContext _ctx;
    private readonly string _work;

    public BenchFeed(BenchContext ctx, string dir)
    {
        _ctx = ctx;
        Dir = Path.Combine(dir, "feed");
        _work = Path.Combine(dir, "publisher");
        Directory.CreateDirectory(_work);
        Shell.Check(ctx.Release, ["init", "--feed", Dir, "--root-key", Path.Combine(ctx.KeysDir, "root.key"),
            "--release-key", Path.Combine(ctx.KeysDir, "release.pub"), "--deploy-key", Path.Combine(ctx.KeysDir, "deploy.pub")]);
    }

    /// <summary>The app the benches deploy to group default.</summary>
    public const string App = "bench";

    /// <summary>
    /// Deploys <paramref name="version"/> of the bench app to group default (belay-release app package, then
    /// deploy with the deploy key): a process that sleeps, a pre_start and a post_start hook, and a health
    /// command, healthy for 1 s (probed every 200 ms). Every host of a group gets the same environment, so
    /// the app listens on nothing: several hosts on one machine cannot share a port. Returns how long the
    /// deploy command took.
    /// </summary>
    public TimeSpan DeployApp(string version)
    {
        var folder = Path.Combine(_work, $"app-{version}");
        Directory.CreateDirectory(Path.Combine(folder, "bin"));
        Directory.CreateDirectory(Path.Combine(folder, "hooks"));
        File.WriteAllText(Path.Combine(folder, "belay-app.conf"),
            "[app]\nexec = bin/app\nstop_timeout = 5s\n[hooks]\npre_start = hooks/ok.sh\npost_start = hooks/ok.sh\n" +
            "[health]\ncommand = hooks/ok.sh\ninterval = 200ms\nhealthy_for = 1s\ndeadline = 60s\n");
        foreach (var (name, text) in new[] { ("bin/app", "#!/bin/sh\nexec sleep 100000\n"), ("hooks/ok.sh", "#!/bin/sh\nexit 0\n") })
        {
            var path = Path.Combine(folder, name);
            File.WriteAllText(path, text);
            File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        }
        var packages = Path.Combine(_work, "app-packages");
        Shell.Check(_ctx.Release, ["app", "package", folder, "--name", App, "--version", version, "--rid", _ctx.Rid, "--out", packages]);
        var watch = Stopwatch.StartNew();
        Shell.Check(_ctx.Release, ["deploy", "--feed", Dir, "--group", "default", "--app", App, "--version", version,
            "--artifact", $"{_ctx.Rid}={Path.Combine(packages, $"{App}-{version}-{_ctx.Rid}.tar.gz")}", "--key", Path.Combine(_ctx.KeysDir, "deploy.key")]);
        return watch.Elapsed;
    }

    public string Dir { get; }

    /// <summary>The newest version published so far.</summary>
    public string? Latest { get; private set; }

    /// <summary>Packages <paramref name="agent"/> as <paramref name="version"/> (the shipped agent, or a script standing in
    /// for a broken build) and publishes it; returns how long the publish command itself took.</summary>
    public TimeSpan Publish(string version, byte[] agent, int rollout = 100, bool withBootstrap = false)
    {
        var archive = Package(version, agent);
        var args = new List<string>
        {
            "publish", "--feed", Dir, "--version", version, "--artifact", $"{_ctx.Rid}={archive}",
            "--key", Path.Combine(_ctx.KeysDir, "release.key"), "--rollout", rollout.ToString(CultureInfo.InvariantCulture),
        };
        if (withBootstrap)
        {
            args.AddRange(["--bootstrap", $"{_ctx.Rid}={_ctx.Belay}"]);
        }
        var watch = Stopwatch.StartNew();
        Shell.Check(_ctx.Release, args);
        Latest = version;
        return watch.Elapsed;
    }

    public string Package(string version, byte[] agent)
    {
        var packages = Path.Combine(_work, "packages");
        var archive = Path.Combine(packages, $"belay-agent-{version}-{_ctx.Rid}.tar.gz");
        // As a release packages it (the compact form at Brotli quality 11, about 30 s), once per agent: an archive's bytes
        // do not depend on the version in its name, so later versions of the same agent are copies.
        var key = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(agent));
        if (_packaged.TryGetValue(key, out var made))
        {
            File.Copy(made, archive, overwrite: true);
            foreach (var compact in new[] { ".tar.x86.br", ".tar.a64.br", ".tar.br" })
            {
                var from = made[..^".tar.gz".Length] + compact;
                if (File.Exists(from))
                {
                    File.Copy(from, archive[..^".tar.gz".Length] + compact, overwrite: true);
                }
            }
            return archive;
        }
        var input = Path.Combine(_work, $"agent-{version}");
        Directory.CreateDirectory(input);
        var exe = Path.Combine(input, "belay-agent");
        File.WriteAllBytes(exe, agent);
        File.SetUnixFileMode(exe, (UnixFileMode)0b111_101_101);
        Shell.Check(_ctx.Release, ["package", "--rid", _ctx.Rid, "--version", version, "--input", input, "--out", packages]);
        _packaged[key] = archive;
        return archive;
    }

    private readonly Dictionary<string, string> _packaged = new(StringComparer.Ordinal);

    /// <summary>install.sh for this feed at <paramref name="url"/>, signed like a real one.</summary>
    public void WriteInstallers(string url) =>
        Shell.Check(_ctx.Release, ["installers", "--feed", Dir, "--url", url, "--key", Path.Combine(_ctx.KeysDir, "release.key")]);

    /// <summary>The feed-relative path of a file in the feed, found by pattern (like agent/1.0.0/*.tar.gz).</summary>
    /// <summary>The agent archive of <paramref name="version"/> that an agent downloads: its compact form when the feed has one.</summary>
    public string Download(string version) =>
        Directory.EnumerateFiles(Path.Combine(Dir, "agent", version), "*.br").Any() ? Find($"agent/{version}", "*.br") : Find($"agent/{version}", "*.tar.gz");

    public string Find(string folder, string pattern)
    {
        var file = Directory.EnumerateFiles(Path.Combine(Dir, folder), pattern).Where(f => !f.EndsWith(".minisig", StringComparison.Ordinal)).First();
        return Path.GetRelativePath(Dir, file).Replace('\\', '/');
    }

    /// <summary>A broken release: an agent that exits at once, as scripts/demo.sh publishes.</summary>
    public static byte[] CrashingAgent => "#!/bin/sh\necho 'crashing on purpose' >&2\nexit 1\n"u8.ToArray();
}

/// <summary>1.2.3 → 1.2.4 (pre-release and build suffixes dropped).</summary>
internal static class Versions
{
    public static string Core(string version) => version.Split('-', '+')[0].Trim();

    public static string NextPatch(string version)
    {
        var parts = Core(version).Split('.');
        return $"{parts[0]}.{parts[1]}.{int.Parse(parts[2], CultureInfo.InvariantCulture) + 1}";
    }
}
