using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Release;

/// <summary>A scratch workspace with fresh keys and an agent archive, for belay-release tests.</summary>
public sealed class ReleaseWorkspace : IDisposable
{
    private readonly TempDir _dir = new("belay-e2e-");

    public ReleaseWorkspace()
    {
        Keys = _dir.Combine("keys");
        Feed = _dir.Combine("feed");
        var result = Release("keygen", "--out", Keys);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException(result.ToString());
        }
    }

    public string Root => _dir.Path;
    public string Keys { get; }
    public string Feed { get; }
    public string RootPub => Path.Combine(Keys, "root.pub");
    public string ReleasePub => Path.Combine(Keys, "release.pub");
    public string ReleaseKey => Path.Combine(Keys, "release.key");
    public string RootKey => Path.Combine(Keys, "root.key");
    public string DeployPub => Path.Combine(Keys, "deploy.pub");
    public string DeployKey => Path.Combine(Keys, "deploy.key");

    public static ToolResult Release(params string[] args) => BelayBinaries.Run(BelayBinaries.Release, args);

    public ToolResult Init() => Release("init", "--feed", Feed, "--root-key", RootKey, "--release-key", ReleasePub);

    /// <summary>A feed whose root also lists the deploy key (group documents).</summary>
    public ToolResult InitWithDeploy() => Release("init", "--feed", Feed, "--root-key", RootKey, "--release-key", ReleasePub, "--deploy-key", DeployPub);

    /// <summary>An agent archive for <paramref name="version"/> made by belay-release package from a stand-in executable.</summary>
    public string Archive(string version, string rid = "linux-x64")
    {
        var input = Path.Combine(Root, $"in-{version}-{rid}");
        Directory.CreateDirectory(input);
        var exe = Path.Combine(input, rid.StartsWith("win-", StringComparison.Ordinal) ? "belay-agent.exe" : "belay-agent");
        File.WriteAllText(exe, $"#!/bin/sh\necho agent {version}\n");
        File.SetUnixFileMode(exe, (UnixFileMode)0b111_101_101);
        var output = Path.Combine(Root, "packages");
        var result = Release("package", "--compact", "fast", "--rid", rid, "--version", version, "--input", input, "--out", output);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException(result.ToString());
        }
        return Path.Combine(output, Path.GetFileName(Core.Feed.FeedLayout.AgentArchive(version, rid)));
    }

    public ToolResult Publish(string version, params string[] extra) =>
        Release([.. new[] { "publish", "--feed", Feed, "--channel", "stable", "--version", version, "--artifact", $"linux-x64={Archive(version)}", "--key", ReleaseKey }, .. extra]);

    public ToolResult VerifyFeed(string? feed = null, params string[] extra) =>
        Release([.. new[] { "verify-feed", "--feed", feed ?? Feed, "--root-key", RootPub }, .. extra]);

    /// <summary>Every file of the feed with its hash: equal snapshots mean the feed did not change.</summary>
    public IReadOnlyDictionary<string, string> Snapshot() =>
        Directory.Exists(Feed)
            ? Directory.EnumerateFileSystemEntries(Feed, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToDictionary(
                p => Path.GetRelativePath(Feed, p),
                p => File.Exists(p) ? Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(p))) : "dir")
            : new Dictionary<string, string>();

    public void Dispose() => _dir.Dispose();
}
