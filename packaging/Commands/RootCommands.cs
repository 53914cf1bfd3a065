using System.CommandLine;
using Belay.Core;
using Belay.Core.Cli;
using Belay.Core.Feed;
using Belay.Core.Publishing;

namespace Belay.Release.Commands;

/// <summary>`belay-release root rotate`: the next root version, signed by the old and the new root keys (docs/trust.md).</summary>
internal static class RootCommands
{
    public static Command Create()
    {
        var feed = new Option<DirectoryInfo>("--feed") { Description = "The feed folder.", Required = true };
        var sign = new Option<FileInfo[]>("--sign")
        {
            Description = "A root secret key that signs the new root; repeat until a threshold of the current root keys and a threshold of the new ones signed.",
            Required = true,
            Arity = ArgumentArity.OneOrMore,
        };
        var rootKeys = new Option<string[]>("--root-key")
        {
            Description = "A root public key (base64 line or .pub file) of the new root; repeat for more. Default: the current root keys.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var threshold = new Option<int?>("--threshold") { Description = "How many of the new root keys must sign the next rotation. Default: the current threshold." };
        var releaseKeys = new Option<string[]>("--release-key")
        {
            Description = "A release public key allowed to sign channels; repeat for more. Default: the current release keys. Changing them resets the hosts' sequence watermark.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var deployKeys = new Option<string[]>("--deploy-key")
        {
            Description = "A deploy public key allowed to sign group documents; repeat for more. Default: the current deploy keys (none in a feed that never had any). Changing them resets the hosts' group watermarks.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var expires = new Option<string>("--expires") { Description = "How long the new root is valid, like 365d.", DefaultValueFactory = _ => "365d" }.Duration();
        var passwordFile = new Option<FileInfo?>("--password-file") { Description = "The secret keys' password (or BELAY_KEY_PASSWORD)." };
        var rotate = new Command("rotate", "Write the next root version, signed by a threshold of the current root keys and of the new ones; also renews an expiring root.")
        {
            feed, sign, rootKeys, threshold, releaseKeys, deployKeys, expires, passwordFile,
        };
        rotate.SetAction(result =>
        {
            var password = CliHost.ReadPassword(result.GetValue(passwordFile));
            var signers = result.GetRequiredValue(sign).Select(f => KeyCommands.LoadSecretKey(f, password)).ToList();
            var newRoot = (result.GetValue(rootKeys) ?? []).Select(k => VerifyCommand.LoadPublicKey(k, "--root-key")).ToList();
            var release = (result.GetValue(releaseKeys) ?? []).Select(k => VerifyCommand.LoadPublicKey(k, "--release-key")).ToList();
            var deploy = (result.GetValue(deployKeys) ?? []).Select(k => VerifyCommand.LoadPublicKey(k, "--deploy-key")).ToList();
            new FeedPublisher(Console.WriteLine).Rotate(new RotateRequest(
                result.GetRequiredValue(feed).FullName, signers, newRoot, result.GetValue(threshold), release,
                Durations.Parse(result.GetRequiredValue(expires)), deploy));
            return ExitCodes.Ok;
        });
        return new Command("root", "Manage the feed's root of trust.") { rotate };
    }
}
