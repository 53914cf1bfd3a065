using System.Text.Json;
using System.Text.RegularExpressions;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Release;

/// <summary>
/// belay-release keygen, init, app package, deploy and verify-feed for group documents, run as
/// the shipped NativeAOT binary; every file a host reads checked with the stock minisign, and
/// secrets with the stock age.
/// </summary>
public sealed class DeployCommandTests : IDisposable
{
    private readonly ReleaseWorkspace _ws = new();

    public DeployCommandTests()
    {
        var init = ReleaseWorkspace.Release("init", "--feed", _ws.Feed, "--root-key", _ws.RootKey, "--release-key", _ws.ReleasePub, "--deploy-key", DeployPub);
        Assert.True(init.ExitCode == 0, init.ToString());
        // A feed always carries the agent's channel too (hosts install from it).
        var publish = _ws.Publish("1.0.0");
        Assert.True(publish.ExitCode == 0, publish.ToString());
    }

    public void Dispose() => _ws.Dispose();

    private string DeployPub => Path.Combine(_ws.Keys, "deploy.pub");
    private string DeployKey => Path.Combine(_ws.Keys, "deploy.key");

    private static ToolResult Release(params string[] args) => ReleaseWorkspace.Release(args);

    private static void Ok(ToolResult result) => Assert.True(result.ExitCode == 0, result.ToString());

    /// <summary>A release folder for <paramref name="app"/> <paramref name="version"/>, packaged by belay-release app package.</summary>
    private string Package(string app, string version, string marker = "")
    {
        var folder = Path.Combine(_ws.Root, "src", $"{app}-{version}{marker}");
        Directory.CreateDirectory(Path.Combine(folder, "bin"));
        File.WriteAllText(Path.Combine(folder, "belay-app.conf"), "[app]\nexec = bin/run\n[health]\ntcp = 127.0.0.1:9\n");
        File.WriteAllText(Path.Combine(folder, "bin", "run"), $"#!/bin/sh\necho {app} {version} {marker}\n");
        File.SetUnixFileMode(Path.Combine(folder, "bin", "run"), (UnixFileMode)0b111_101_101);
        var output = Path.Combine(_ws.Root, "packages", $"{app}-{version}{marker}");
        var result = Release("app", "package", folder, "--name", app, "--version", version, "--out", output);
        Ok(result);
        Assert.Contains($"{app}-{version}-any.tar.gz", result.StdOut, StringComparison.Ordinal);
        return Path.Combine(output, $"{app}-{version}-any.tar.gz");
    }

    private ToolResult Deploy(params string[] args) => Release(["deploy", "--feed", _ws.Feed, "--group", "web", "--key", DeployKey, .. args]);

    [Fact]
    public void KeygenMakesTheThreeRolesAndOneRoleOnRequest()
    {
        foreach (var role in new[] { "root", "release", "deploy" })
        {
            Assert.True(File.Exists(Path.Combine(_ws.Keys, $"{role}.key")));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_ws.Keys, $"{role}.key")));
        }
        var only = Path.Combine(_ws.Root, "only-deploy");
        var result = Release("keygen", "--out", only, "--role", "deploy");
        Ok(result);
        Assert.Equal(["deploy.key", "deploy.pub"], Directory.GetFiles(only).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var again = Release("keygen", "--out", only, "--role", "deploy");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("refusing to overwrite existing keys", again.StdErr, StringComparison.Ordinal);
        var bad = Release("keygen", "--out", only, "--role", "admin");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--role admin is not a role: use root, release or deploy", bad.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryFileADeployWritesVerifiesWithStockMinisignAndTheSecretWithStockAge()
    {
        var minisign = ExternalTool.Require("minisign", "minisign");
        var age = ExternalTool.Require("age", "age");
        var ageKeygen = ExternalTool.Require("age-keygen", "age");
        var identity = Path.Combine(_ws.Root, "group.key");
        Ok(ExternalTool.Run(ageKeygen, ["-o", identity]));
        var recipient = ExternalTool.Run(ageKeygen, ["-y", identity]).StdOut.Trim();
        var secretFile = Path.Combine(_ws.Root, "db-password");
        File.WriteAllText(secretFile, "pa55 word with spaces\n");

        var deploy = Deploy("--app", "shop", "--version", "2.7.1", "--artifact", $"any={Package("shop", "2.7.1")}",
            "--env", "PORT=8080", "--secret", $"DB_PASSWORD=@{secretFile}", "--recipient", recipient, "--rollout", "50");
        Ok(deploy);
        Assert.Contains("wrote groups/web.json (sequence 1,", deploy.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("pa55", deploy.StdOut + deploy.StdErr, StringComparison.Ordinal);

        foreach (var file in new[] { "groups/web.json", "apps/shop/2.7.1/shop-2.7.1-any.tar.gz" })
        {
            var check = ExternalTool.Run(minisign, ["-V", "-p", DeployPub, "-m", Path.Combine(_ws.Feed, file)]);
            Assert.True(check.ExitCode == 0, $"{file}: {check}");
            Assert.Contains("Signature and comment signature verified", check.StdOut, StringComparison.Ordinal);
        }
        // The release key's public half does not verify them: the roles are separate.
        Assert.NotEqual(0, ExternalTool.Run(minisign, ["-V", "-p", _ws.ReleasePub, "-m", Path.Combine(_ws.Feed, "groups/web.json")]).ExitCode);

        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(_ws.Feed, "groups/web.json")));
        var shop = doc.RootElement.GetProperty("apps").GetProperty("shop");
        Assert.Equal("8080", shop.GetProperty("env").GetProperty("PORT").GetString());
        Assert.Equal(50, shop.GetProperty("rollout").GetProperty("percent").GetInt32());
        var armored = shop.GetProperty("env").GetProperty("DB_PASSWORD").GetProperty("age").GetString()!;
        var encrypted = Path.Combine(_ws.Root, "secret.age");
        File.WriteAllText(encrypted, armored);
        var plain = Path.Combine(_ws.Root, "secret.txt");
        var decrypted = ExternalTool.Run(age, ["-d", "-i", identity, "-o", plain, encrypted]);
        Assert.True(decrypted.ExitCode == 0, decrypted.ToString());
        Assert.Equal("pa55 word with spaces", File.ReadAllText(plain)); // one trailing newline of the file dropped
        Assert.DoesNotContain("pa55", File.ReadAllText(Path.Combine(_ws.Feed, "groups/web.json")), StringComparison.Ordinal);

        var verify = _ws.VerifyFeed();
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains("ok    groups/web.json signed by a deploy key, every field sound, not expired", verify.StdOut, StringComparison.Ordinal);
        Assert.Contains("ok    apps/shop/2.7.1/shop-2.7.1-any.tar.gz (app shop 2.7.1 any)", verify.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void AKeyOfTheWrongRoleIsRefusedWithExit3AndTheFeedIsUntouched()
    {
        var archive = Package("shop", "1.0");
        var before = _ws.Snapshot();
        var result = Release("deploy", "--feed", _ws.Feed, "--group", "web", "--app", "shop", "--version", "1.0", "--artifact", $"any={archive}", "--key", _ws.ReleaseKey);
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("is a release key, which signs channels only: group documents are signed by a deploy key", result.StdErr, StringComparison.Ordinal);
        Assert.Equal(before, _ws.Snapshot());

        var publish = Release("publish", "--feed", _ws.Feed, "--version", "1.1.0", "--artifact", $"linux-x64={_ws.Archive("1.1.0")}", "--key", DeployKey);
        Assert.Equal(3, publish.ExitCode);
        Assert.Contains("is a deploy key of this feed: it signs group documents (belay-release deploy), never a channel", publish.StdErr, StringComparison.Ordinal);
        Assert.Equal(before, _ws.Snapshot());
    }

    [Fact]
    public void AVersionWhoseArchiveDiffersFromWhatIsPublishedIsRefused()
    {
        Ok(Deploy("--app", "shop", "--version", "1.0", "--artifact", $"any={Package("shop", "1.0")}"));
        var before = _ws.Snapshot();
        var other = Deploy("--app", "shop", "--version", "1.0", "--artifact", $"any={Package("shop", "1.0", marker: "-rebuilt")}");
        Assert.Equal(1, other.ExitCode);
        Assert.Contains("apps/shop/1.0/shop-1.0-any.tar.gz is already published with other content", other.StdErr, StringComparison.Ordinal);
        Assert.Equal(before, _ws.Snapshot());

        // The same bytes again (app package is reproducible) are fine, to another group too.
        Ok(Release("deploy", "--feed", _ws.Feed, "--group", "staging", "--app", "shop", "--version", "1.0", "--artifact", $"any={Package("shop", "1.0")}", "--key", DeployKey));
    }

    [Fact]
    public void ASecretOnTheCommandLineIsRefused()
    {
        var result = Deploy("--app", "shop", "--version", "1.0", "--artifact", $"any={Package("shop", "1.0")}", "--secret", "DB_PASSWORD=hunter2", "--recipient", "age1x");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("give the value as DB_PASSWORD=@FILE (or DB_PASSWORD=@- for standard input)", result.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", result.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void VerifyFeedFindsATamperedAppArchiveAndAGroupSignedByTheWrongKey()
    {
        Ok(Deploy("--app", "shop", "--version", "1.0", "--artifact", $"any={Package("shop", "1.0")}"));
        var archive = Path.Combine(_ws.Feed, "apps/shop/1.0/shop-1.0-any.tar.gz");
        File.AppendAllText(archive, "x");
        var verify = _ws.VerifyFeed();
        Assert.Equal(3, verify.ExitCode);
        Assert.Matches(new Regex(@"FAIL  apps/shop/1\.0/shop-1\.0-any\.tar\.gz \(app shop 1\.0 any\).*is larger than the \d+ bytes allowed"), verify.StdOut);

        var sign = Release("sign", Path.Combine(_ws.Feed, "groups/web.json"), "--key", _ws.ReleaseKey);
        Ok(sign);
        var wrongKey = _ws.VerifyFeed();
        Assert.Equal(3, wrongKey.ExitCode);
        Assert.Contains("FAIL  groups/web.json", wrongKey.StdOut, StringComparison.Ordinal);
        Assert.Contains("it is a release key, which signs channels only", wrongKey.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void APackageWithAnUnknownKeyInItsConfigIsRefusedNamingFileAndLine()
    {
        var folder = Path.Combine(_ws.Root, "src", "bad");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "belay-app.conf"), "[app]\nexec = /bin/true\nrestrat = always\n");
        var result = Release("app", "package", folder, "--name", "bad", "--version", "1", "--out", Path.Combine(_ws.Root, "out"));
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("belay-app.conf:3", result.StdErr, StringComparison.Ordinal);
        Assert.Contains("restrat", result.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void ARootRotationAddsTheDeployRoleToAFeedMadeWithoutIt()
    {
        var feed = Path.Combine(_ws.Root, "old-feed");
        Ok(Release("init", "--feed", feed, "--root-key", _ws.RootKey, "--release-key", _ws.ReleasePub));
        Ok(Release("publish", "--feed", feed, "--version", "1.0.0", "--artifact", $"linux-x64={_ws.Archive("1.0.0")}", "--key", _ws.ReleaseKey));
        var archive = Package("shop", "1.0");
        var refused = Release("deploy", "--feed", feed, "--group", "web", "--app", "shop", "--version", "1.0", "--artifact", $"any={archive}", "--key", DeployKey);
        Assert.Equal(3, refused.ExitCode);
        Assert.Contains("root rotate --deploy-key deploy.pub", refused.StdErr, StringComparison.Ordinal);
        var rotate = Release("root", "rotate", "--feed", feed, "--sign", _ws.RootKey, "--deploy-key", DeployPub);
        Ok(rotate);
        Assert.Contains("deploy keys", rotate.StdOut, StringComparison.Ordinal);
        Ok(Release("deploy", "--feed", feed, "--group", "web", "--app", "shop", "--version", "1.0", "--artifact", $"any={archive}", "--key", DeployKey));
        Ok(_ws.VerifyFeed(feed));
    }
}
