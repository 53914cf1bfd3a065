using System.Text;
using Belay.Core.Minisign;
using Belay.Core.Publishing;
using Belay.TestSupport;

namespace Belay.Core.Tests.Installers;

/// <summary>Rendering install.sh: the template is data, every value is checked and quoted for sh.</summary>
public sealed class InstallScriptTests : IDisposable
{
    private const string Sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    private readonly TempDir _dir = new();
    private readonly FakeClock _clock = new();
    private readonly MinisignSecretKey _rootKey = MinisignSecretKey.Generate();
    private readonly MinisignSecretKey _releaseKey = MinisignSecretKey.Generate();

    public void Dispose() => _dir.Dispose();

    public static string Template => File.ReadAllText(Path.Combine(BelayBinaries.RepoRoot, "installers", "install.sh"));

    private InstallScriptValues Values(params InstallScriptBuild[] builds) => new(
        "https://feed.example.com/belay", "stable", [_rootKey.PublicKey], "1.4.2",
        builds.Length > 0 ? builds : [new("linux-x64", "bootstrap/1.4.2/belay-linux-x64", Sha)]);

    /// <summary>Runs a rendered script's belay_feed and belay_build with sh and prints what they set.</summary>
    private static string Evaluate(string script, string rid)
    {
        // The script up to its call of main, then the probe, then the brace group's end.
        var body = script[..script.LastIndexOf("main \"$@\"", StringComparison.Ordinal)];
        var probe = body + $"belay_feed\nprintf '%s\\n' \"$BELAY_FEED_URL\" \"$BELAY_DEFAULT_CHANNEL\" \"$BELAY_ROOT_KEYS\" \"$BELAY_BOOTSTRAP_VERSION\" \"$BELAY_BUILDS\"\n" +
            $"if belay_build {InstallScript.ShellQuote(rid)}; then printf '%s\\n' \"$build_path\" \"$build_sha256\"; else echo none; fi\n}}\n";
        var result = ExternalTool.Run("/bin/sh", ["-s"], stdin: probe);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result.StdOut;
    }

    [Fact]
    public void EveryPlaceholderIsFilledAndTheValuesReadBackAsGiven()
    {
        var script = InstallScript.Render(Template, Values(
            new("osx-arm64", "bootstrap/1.4.2/belay-osx-arm64", Sha.Replace('0', 'f')),
            new("linux-x64", "bootstrap/1.4.2/belay-linux-x64", Sha)));
        Assert.DoesNotContain("{{", script.Replace("*'{{'*", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Equal(
            $"https://feed.example.com/belay/\nstable\n{_rootKey.PublicKey.ToBase64()}\n1.4.2\nlinux-x64 osx-arm64\nbootstrap/1.4.2/belay-osx-arm64\n{Sha.Replace('0', 'f')}\n",
            Evaluate(script, "osx-arm64"));
        Assert.EndsWith("none\n", Evaluate(script, "linux-arm64"), StringComparison.Ordinal);
        Assert.EndsWith($"bootstrap/1.4.2/belay-linux-x64\n{Sha}\n", Evaluate(script, "linux-x64"), StringComparison.Ordinal);
    }

    [Fact]
    public void RenderingIsDeterministic()
    {
        var values = Values();
        Assert.Equal(InstallScript.Render(Template, values), InstallScript.Render(Template, values));
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("it's")]
    [InlineData("'")]
    [InlineData("''")]
    [InlineData("$(touch /tmp/pwned) `id` $HOME ${x:-y} \\ \" ; & | < > * ? [ ] ~ #")]
    [InlineData("line one\nline two\n")]
    [InlineData("")]
    public void ShellQuoteGivesOneWordThatShReadsBackExactly(string value)
    {
        var result = ExternalTool.Run("/bin/sh", ["-c", $"x={InstallScript.ShellQuote(value)}; set -- {InstallScript.ShellQuote(value)}; printf '%s|%s|end' \"$#\" \"$x\""]);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal("1|" + value + "|end\n", result.StdOut);
    }

    [Theory]
    [InlineData("https://feed.example.com/'; touch /tmp/x; '")]
    [InlineData("https://feed.example.com/a b")]
    [InlineData("https://feed.example.com/\n")]
    [InlineData("https://feed.example.com/?x=1")]
    [InlineData("https://user@feed.example.com/")]
    [InlineData("ftp://feed.example.com/")]
    [InlineData("file:///srv/feed")]
    [InlineData("feed.example.com")]
    public void AFeedUrlThatIsNotAPlainHttpAddressIsRefused(string url)
    {
        var e = Assert.Throws<BelayException>(() => InstallScript.Render(Template, Values() with { FeedUrl = url }));
        Assert.Equal(ExitCodes.Usage, e.ExitCode);
    }

    [Theory]
    [InlineData("win-x64", "bootstrap/1.0.0/belay-win-x64.exe", Sha)]
    [InlineData("illumos-x64", "bootstrap/1.0.0/belay-illumos-x64", Sha)]
    [InlineData("linux-x64'", "bootstrap/1.0.0/belay-linux-x64", Sha)]
    [InlineData("linux-x64", "../belay-linux-x64", Sha)]
    [InlineData("linux-x64", "/bootstrap/belay", Sha)]
    [InlineData("linux-x64", "bootstrap/1.0.0/belay linux", Sha)]
    [InlineData("linux-x64", "bootstrap/1.0.0/belay|x", Sha)]
    [InlineData("linux-x64", "bootstrap/1.0.0/b*", Sha)]
    [InlineData("linux-x64", "bootstrap/1.0.0/belay-linux-x64", "0123")]
    [InlineData("linux-x64", "bootstrap/1.0.0/belay-linux-x64", "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef")]
    public void ABuildOfTheWrongFormIsRefused(string rid, string path, string sha)
    {
        Assert.Throws<BelayException>(() => InstallScript.Render(Template, Values(new InstallScriptBuild(rid, path, sha))));
    }

    [Fact]
    public void OtherValuesOfTheWrongFormAreRefused()
    {
        Assert.Throws<BelayException>(() => InstallScript.Render(Template, Values() with { Channel = "Stable'" }));
        Assert.Throws<BelayException>(() => InstallScript.Render(Template, Values() with { BootstrapVersion = "1.0; rm" }));
        Assert.Throws<BelayException>(() => InstallScript.Render(Template, Values() with { RootKeys = [] }));
        Assert.Throws<BelayException>(() => InstallScript.Render(Template, Values() with { Builds = [] }));
        Assert.Throws<BelayException>(() => InstallScript.Render(Template, Values(
            new InstallScriptBuild("linux-x64", "bootstrap/1/a", Sha), new InstallScriptBuild("linux-x64", "bootstrap/1/b", Sha))));
    }

    [Fact]
    public void TheTemplateRunsNothingUntilItsLastLine()
    {
        // After the header's comments, one brace group holds everything: comments, function definitions and,
        // last, the call of main. The shell reads the group whole before it runs it, so a script cut anywhere
        // is a syntax error (a cut inside a top-level name, "sh" of "show() {", would otherwise run it).
        var lines = Template.TrimEnd('\n').Split('\n');
        Assert.StartsWith("#!/bin/sh", lines[0], StringComparison.Ordinal);
        var open = Array.FindIndex(lines, l => l.Length > 0 && !l.StartsWith('#'));
        Assert.Equal("{", lines[open]);
        Assert.Equal("}", lines[^1]);
        Assert.Equal("main \"$@\"", lines[..^1].Last(l => l.Length > 0));
        var depth = 0;
        foreach (var line in lines[(open + 1)..^1].Where(l => l != "main \"$@\""))
        {
            if (depth == 0)
            {
                Assert.True(line.Length == 0 || line.StartsWith('#') || System.Text.RegularExpressions.Regex.IsMatch(line, "^[a-z_0-9]+\\(\\) \\{$"),
                    $"top-level line outside a function: {line}");
            }
            if (System.Text.RegularExpressions.Regex.IsMatch(line, "^[a-z_0-9]+\\(\\) \\{$"))
            {
                depth++;
            }
            else if (line == "}")
            {
                depth--;
            }
        }
        Assert.Equal(0, depth);
    }

    [Fact]
    public void FromFeedPinsTheNewestBootstrappersForLinuxAndMacAndChecksTheirFiles()
    {
        var feed = PublishFeed(("1.0.0", true), ("1.1.0", true), ("1.2.0", false));
        var values = InstallScript.FromFeed(feed, "https://feed.example.com", "stable", null, _clock.GetUtcNow());
        Assert.Equal("1.1.0", values.BootstrapVersion);
        Assert.Equal(["linux-x64", "osx-arm64"], values.Builds.Select(b => b.Rid));
        Assert.Equal("bootstrap/1.1.0/belay-linux-x64", values.Builds[0].Path);
        Assert.Equal(_rootKey.PublicKey, Assert.Single(values.RootKeys));
        Assert.Equal("https://feed.example.com/", values.FeedUrl);

        // The pinned root key must verify root.json.
        var other = MinisignSecretKey.Generate().PublicKey;
        Assert.Equal(ExitCodes.TrustFailure, Assert.Throws<BelayException>(() => InstallScript.FromFeed(feed, "https://x/", "stable", [other], _clock.GetUtcNow())).ExitCode);

        // Each has its gzip copy pinned too, with the size it decompresses to; a feed without the copy pins the raw file only.
        foreach (var build in values.Builds)
        {
            var file = Path.Combine(feed, build.Path);
            var gz = Assert.IsType<BootstrapGzipCopy>(build.Gzip);
            Assert.Equal(build.Path + ".gz", gz.Path);
            Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(file + ".gz"))), gz.Sha256);
            Assert.Equal(new FileInfo(file).Length, gz.Size);
        }
        var script = InstallScript.Render(Template, values);
        Assert.Contains($"linux-x64|bootstrap/1.1.0/belay-linux-x64|{values.Builds[0].Sha256}|{values.Builds[0].Gzip!.Size}|bootstrap/1.1.0/belay-linux-x64.gz|{values.Builds[0].Gzip!.Sha256}\n", script, StringComparison.Ordinal);
        var gzLinux = Path.Combine(feed, values.Builds[0].Path + ".gz");
        var gzBytes = File.ReadAllBytes(gzLinux);
        File.Move(gzLinux, gzLinux + ".away");
        var withoutCopy = InstallScript.FromFeed(feed, "https://x/", "stable", null, _clock.GetUtcNow());
        Assert.Null(withoutCopy.Builds[0].Gzip);
        Assert.Contains($"linux-x64|bootstrap/1.1.0/belay-linux-x64|{values.Builds[0].Sha256}\n", InstallScript.Render(Template, withoutCopy), StringComparison.Ordinal);

        // A gzip copy that does not decompress to the bootstrapper the manifest binds is never pinned.
        File.WriteAllBytes(gzLinux, gzBytes[..^8]);
        Assert.Equal(ExitCodes.TrustFailure, Assert.Throws<BelayException>(() => InstallScript.FromFeed(feed, "https://x/", "stable", null, _clock.GetUtcNow())).ExitCode);
        File.Move(gzLinux + ".away", gzLinux, overwrite: true);

        // A bootstrapper changed in the feed after publishing is never pinned.
        File.WriteAllText(Path.Combine(feed, values.Builds[1].Path), "tampered");
        var e = Assert.Throws<BelayException>(() => InstallScript.FromFeed(feed, "https://x/", "stable", null, _clock.GetUtcNow()));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Contains("belay-osx-arm64", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InstallPs1FromFeedPinsTheNewestWindowsBootstrapperAndChecksItsFile()
    {
        var feed = PublishFeed(("1.0.0", true), ("1.1.0", true), ("1.2.0", false));
        var source = InstallPowerShell.FromFeed(feed, "https://feed.example.com", "stable", null, _clock.GetUtcNow());
        Assert.True(source.HasScriptBuilds);
        var values = Assert.IsType<InstallScriptValues>(source.Values);
        Assert.Equal("1.1.0", values.BootstrapVersion);
        Assert.Equal("bootstrap/1.1.0/belay-win-x64.exe", Assert.Single(values.Builds).Path);
        Assert.Equal(_rootKey.PublicKey, Assert.Single(values.RootKeys));

        File.Delete(Path.Combine(feed, values.Builds[0].Path));
        Assert.Contains("restore it before generating install.ps1",
            Assert.Throws<BelayException>(() => InstallPowerShell.FromFeed(feed, "https://x/", "stable", null, _clock.GetUtcNow())).Message, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(feed, values.Builds[0].Path), "tampered");
        Assert.Equal(ExitCodes.TrustFailure,
            Assert.Throws<BelayException>(() => InstallPowerShell.FromFeed(feed, "https://x/", "stable", null, _clock.GetUtcNow())).ExitCode);
    }

    [Fact]
    public void FromFeedSaysWhatToDoWhenNoReleaseHasABootstrapper()
    {
        var feed = PublishFeed(("1.0.0", false));
        var e = Assert.Throws<BelayException>(() => InstallScript.FromFeed(feed, "https://x/", "stable", null, _clock.GetUtcNow()));
        Assert.Contains("--bootstrap", e.Message, StringComparison.Ordinal);
        Assert.Throws<BelayException>(() => InstallScript.FromFeed(feed, "https://x/", "beta", null, _clock.GetUtcNow()));
    }

    [Fact]
    public void WriteReplacesTheScriptAndSignsItWithTheReleaseKey()
    {
        var feed = _dir.Combine("feed");
        Directory.CreateDirectory(feed);
        var path = InstallScript.Write(feed, "#!/bin/sh\necho one\n", _releaseKey, _clock.GetUtcNow(), "test");
        path = InstallScript.Write(feed, "#!/bin/sh\necho two\n", _releaseKey, _clock.GetUtcNow(), "test");
        Assert.Equal(Path.Combine(feed, "install.sh"), path);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal("#!/bin/sh\necho two\n", Encoding.UTF8.GetString(bytes));
        var signature = MinisignSignature.Load(path + ".minisig");
        MinisignVerifier.Verify(_releaseKey.PublicKey, bytes, signature);
        Assert.Contains("file:install.sh", signature.TrustedComment, StringComparison.Ordinal);
        Assert.Equal(["install.sh", "install.sh.minisig"], Directory.GetFiles(feed).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    private string PublishFeed(params (string Version, bool WithBootstrap)[] releases)
    {
        var feed = _dir.Combine("feed");
        Directory.CreateDirectory(feed);
        var publisher = new FeedPublisher(_ => { }, _clock);
        publisher.Init(feed, _rootKey, [_releaseKey.PublicKey]);
        foreach (var (version, withBootstrap) in releases)
        {
            var archive = _dir.Combine($"agent-{version}.tar.gz");
            File.WriteAllText(archive, "agent " + version);
            var bootstrap = new Dictionary<string, string>();
            if (withBootstrap)
            {
                foreach (var rid in new[] { "linux-x64", "osx-arm64", "win-x64" })
                {
                    var file = _dir.Combine($"belay-{version}-{rid}");
                    File.WriteAllText(file, $"belay {version} {rid}");
                    bootstrap[rid] = file;
                }
            }
            publisher.Publish(new PublishRequest(feed, "stable", version, new Dictionary<string, string> { ["linux-x64"] = archive }, bootstrap, _releaseKey));
        }
        return feed;
    }
}
