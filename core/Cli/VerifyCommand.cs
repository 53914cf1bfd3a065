using System.CommandLine;
using Belay.Core.Minisign;
using Belay.Core.IO;

namespace Belay.Core.Cli;

/// <summary>
/// `verify FILE [--signature F] --public-key KEY`, shared by belay and belay-release:
/// checks a minisign signature and says which check failed (exit 3) or what it trusted.
/// </summary>
public static class VerifyCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo>("file") { Description = "The file to verify." };
        var signature = new Option<FileInfo?>("--signature", "-x") { Description = "The signature file (default: FILE.minisig)." };
        var key = new Option<string>("--public-key", "-P", "-p")
        {
            Description = "The minisign public key: its base64 line, or the path of a .pub file.",
            Required = true,
        };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print nothing on success." };
        var command = new Command("verify", "Verify a file's minisign signature (exit 0: good, 3: any trust failure).")
        {
            file, signature, key, quiet,
        };
        command.SetAction(result =>
        {
            var target = result.GetRequiredValue(file);
            var sigFile = result.GetValue(signature) ?? new FileInfo(target.FullName + ".minisig");
            var publicKey = LoadPublicKey(result.GetRequiredValue(key), "--public-key");
            if (!target.Exists)
            {
                throw new BelayException($"{target.FullName} not found");
            }
            if (!sigFile.Exists)
            {
                throw BelayException.Trust($"signature {sigFile.FullName} not found; give it with --signature");
            }
            MinisignSignature sig;
            try
            {
                sig = MinisignSignature.Load(sigFile.FullName);
                using var data = File.OpenRead(target.FullName);
                MinisignVerifier.Verify(publicKey, data, sig);
            }
            catch (MinisignException e)
            {
                throw BelayException.Trust($"{target.Name}: verification failed: {e.Message}", e);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new BelayException(e is UnauthorizedAccessException ? ExitCodes.NeedsPrivileges : ExitCodes.Error,
                    $"cannot read {target.FullName} or {sigFile.FullName}: {SystemErrors.Describe(e)}", e);
            }
            if (!result.GetValue(quiet))
            {
                Console.WriteLine($"Signature and comment signature verified ({(sig.Prehashed ? "prehashed" : "legacy")}, key {publicKey.KeyIdHex})");
                Console.WriteLine($"Trusted comment: {sig.TrustedComment}");
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>A public key given on the command line: the base64 line or a .pub file.</summary>
    public static MinisignPublicKey LoadPublicKey(string keyOrPath) => LoadPublicKey(keyOrPath, "public key");

    /// <summary>The same, naming the option it came from in the error: "--root-key: no such file: ...".</summary>
    public static MinisignPublicKey LoadPublicKey(string keyOrPath, string option)
    {
        try
        {
            return MinisignPublicKey.ParseOrLoad(keyOrPath);
        }
        catch (MinisignException e)
        {
            throw new BelayException(ExitCodes.Usage, $"{option}: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BelayException(e is UnauthorizedAccessException ? ExitCodes.NeedsPrivileges : ExitCodes.Usage,
                $"{option} {keyOrPath}: cannot read it: {SystemErrors.Describe(e)}", e);
        }
    }
}
