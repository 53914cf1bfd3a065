using Belay.Core.Minisign;
using Belay.Core.Publishing;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Installers;

/// <summary>
/// install.sh rendered from the repository's template (what belay-release embeds) for a
/// feed that offers every RID the script knows, without a server: for the tests that only
/// look at its decisions (--dry-run) or at what a cut-short copy does.
/// </summary>
public static class InstallShScript
{
    public const string FeedUrl = "https://feed.example.com/belay/";

    public static readonly MinisignPublicKey RootKey = MinisignSecretKey.Generate().PublicKey;

    public static string Render(params string[] rids)
    {
        var template = File.ReadAllText(Path.Combine(BelayBinaries.RepoRoot, "installers", "install.sh"));
        var builds = (rids.Length > 0 ? rids : [.. InstallScript.ScriptRids])
            .Select(rid => new InstallScriptBuild(rid, $"bootstrap/1.0.0/belay-{rid}", Sha256Of(rid),
                new BootstrapGzipCopy($"bootstrap/1.0.0/belay-{rid}.gz", Sha256Of(rid + ".gz"), BootstrapSize)))
            .ToList();
        return InstallScript.Render(template, new InstallScriptValues(FeedUrl, "stable", [RootKey], "1.0.0", builds));
    }

    /// <summary>The made-up size every bootstrapper is pinned at.</summary>
    public const long BootstrapSize = 14_500_000;

    /// <summary>A made-up pinned hash per RID, so that a test can tell which build was chosen.</summary>
    public static string Sha256Of(string rid) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(rid)));

    /// <summary>The shells the script must run under: dash, bash and busybox sh.</summary>
    public static TheoryData<string> Shells => ["dash", "bash", "busybox"];
}
