using System.CommandLine;
using System.Text;
using Belay.Core;
using Belay.Core.Cli;
using Belay.Core.Feed;
using Belay.Core.Publishing;

namespace Belay.Release.Commands;

/// <summary>
/// `belay-release installers`: renders install.sh for one feed (its public URL, default
/// channel, root key and the newest bootstrappers) and writes it, signed, at the feed root.
/// </summary>
internal static class InstallersCommand
{
    /// <summary>The resource name of installers/install.sh (see Belay.Release.csproj).</summary>
    public const string InstallShResource = "Belay.Release.Installers.install.sh";

    /// <summary>The resource name of installers/install.ps1.</summary>
    public const string InstallPs1Resource = "Belay.Release.Installers.install.ps1";

    public static Command Create()
    {
        var feed = new Option<DirectoryInfo>("--feed") { Description = "The feed folder.", Required = true };
        var url = new Option<string>("--url") { Description = "The feed's public address, as hosts will reach it, like https://feed.example.com/.", Required = true };
        var channel = new Option<string>("--channel") { Description = "The channel the script installs by default; its newest release with bootstrappers gives the pinned binaries.", DefaultValueFactory = _ => FeedLayout.DefaultChannel };
        var rootKeys = new Option<string[]>("--root-key")
        {
            Description = "The root public key(s) to bake in (base64 line or .pub file); default: the root keys root.json lists. root.json must verify with them.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var key = new Option<FileInfo>("--key") { Description = "The release secret key that signs install.sh (install.sh.minisig).", Required = true };
        var passwordFile = new Option<FileInfo?>("--password-file") { Description = "The key's password (or BELAY_KEY_PASSWORD)." };
        var command = new Command("installers", "Write install.sh and, for Windows bootstrappers, install.ps1 (each with its .minisig) at the feed root, with the feed's URL, channel, root key and the pinned SHA-256 of each bootstrapper.")
        {
            feed, url, channel, rootKeys, key, passwordFile,
        };
        command.SetAction(result =>
        {
            var secret = KeyCommands.LoadSecretKey(result.GetRequiredValue(key), CliHost.ReadPassword(result.GetValue(passwordFile)));
            var dir = result.GetRequiredValue(feed).FullName;
            var now = DateTimeOffset.UtcNow;
            var pinned = result.GetValue(rootKeys) is { Length: > 0 } given ? given.Select(k => VerifyCommand.LoadPublicKey(k, "--root-key")).ToList() : null;
            // install.ps1 when the channel has Windows bootstrappers; install.sh when it has Linux or
            // macOS ones, or when it has neither (its error says what to publish).
            var windows = InstallPowerShell.FromFeed(dir, result.GetRequiredValue(url), result.GetRequiredValue(channel), pinned, now);
            if (windows.Values is null || windows.HasScriptBuilds)
            {
                var values = InstallScript.FromFeed(dir, result.GetRequiredValue(url), result.GetRequiredValue(channel), pinned, now);
                var script = InstallScript.Render(LoadTemplate(InstallShResource), values);
                var path = InstallScript.Write(dir, script, secret, now, $"install.sh for {values.FeedUrl} bootstrap {values.BootstrapVersion}");
                Console.WriteLine($"wrote {path} ({Encoding.UTF8.GetByteCount(script)} bytes) and {InstallScript.FileName}.minisig (release key {secret.PublicKey.KeyIdHex})");
                Console.WriteLine($"  feed {values.FeedUrl}, channel {values.Channel}, root key {string.Join(", ", values.RootKeys.Select(k => k.KeyIdHex))}");
                Console.WriteLine($"  bootstrap {values.BootstrapVersion}: {string.Join(", ", values.Builds.Select(b => b.Rid))}");
            }
            if (windows.Values is { } ps)
            {
                var script = InstallPowerShell.Render(LoadTemplate(InstallPs1Resource), ps);
                var path = InstallPowerShell.Write(dir, script, secret, now, $"install.ps1 for {ps.FeedUrl} bootstrap {ps.BootstrapVersion}");
                Console.WriteLine($"wrote {path} ({Encoding.UTF8.GetByteCount(script)} bytes) and {InstallPowerShell.FileName}.minisig (release key {secret.PublicKey.KeyIdHex})");
                Console.WriteLine($"  feed {ps.FeedUrl}, channel {ps.Channel}, root key {string.Join(", ", ps.RootKeys.Select(k => k.KeyIdHex))}");
                Console.WriteLine($"  bootstrap {ps.BootstrapVersion}: {string.Join(", ", ps.Builds.Select(b => b.Rid))}");
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string LoadTemplate(string resource)
    {
        using var stream = typeof(InstallersCommand).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"the template {resource} is not embedded in belay-release; see packaging/Belay.Release.csproj");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }
}
