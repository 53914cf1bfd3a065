using System.CommandLine;
using Belay.Core;
using Belay.Core.Cli;
using Belay.Core.IO;
using Belay.Core.Minisign;

namespace Belay.Release.Commands;

/// <summary>keygen and sign: minisign keys and signatures that the stock minisign tool reads.</summary>
internal static class KeyCommands
{
    /// <summary>The key roles of a feed (docs/trust.md): root signs root.json, release signs channels, deploy signs group documents.</summary>
    public static readonly string[] Roles = ["root", "release", "deploy"];

    public static Command Keygen()
    {
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Folder for the key pairs: ROLE.key and ROLE.pub.", Required = true }.NotAFile();
        var roles = new Option<string[]>("--role")
        {
            Description = "Which key pair to make: root, release or deploy; repeat for several. Default: all three. A key holds one role only.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var passwordFile = new Option<FileInfo?>("--password-file") { Description = "Encrypt the secret keys (scrypt, as minisign does) with the password in this file; BELAY_KEY_PASSWORD works too. Without either, keys are written unencrypted, readable by their owner only." };
        var command = new Command("keygen", "Make key pairs (minisign format) for a feed's roles: root, release and deploy.") { output, roles, passwordFile };
        command.SetAction(result =>
        {
            var dir = result.GetRequiredValue(output).FullName;
            var names = result.GetValue(roles) is { Length: > 0 } given ? given.Distinct(StringComparer.Ordinal).ToArray() : Roles;
            if (names.FirstOrDefault(n => !Roles.Contains(n, StringComparer.Ordinal)) is { } unknown)
            {
                throw new BelayException(ExitCodes.Usage, $"--role {unknown} is not a role: use root, release or deploy");
            }
            var password = CliHost.ReadPassword(result.GetValue(passwordFile));
            var existing = names.SelectMany(n => new[] { $"{n}.key", $"{n}.pub" }).Select(f => Path.Combine(dir, f)).Where(File.Exists).ToList();
            if (existing.Count > 0)
            {
                throw new BelayException($"refusing to overwrite existing keys: {string.Join(", ", existing)}. A lost root key cannot be recovered; move them away first if you really mean it");
            }
            var written = new List<string>();
            try
            {
                Directory.CreateDirectory(dir);
                foreach (var name in names)
                {
                    var key = MinisignSecretKey.Generate();
                    // Secret first, readable by its owner alone from the moment it exists.
                    var secretPath = Path.Combine(dir, $"{name}.key");
                    AtomicFile.WriteAllText(secretPath, key.ToFileText(string.IsNullOrEmpty(password) ? null : password), AtomicFile.OwnerOnly);
                    written.Add(secretPath);
                    var publicPath = Path.Combine(dir, $"{name}.pub");
                    AtomicFile.WriteAllText(publicPath, key.PublicKey.ToFileText());
                    written.Add(publicPath);
                    Console.WriteLine($"{name,-8} key {key.PublicKey.KeyIdHex}  public {key.PublicKey.ToBase64()}");
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Half a key set is worse than none: a root key without its release key, or a pub without its key.
                foreach (var path in written)
                {
                    File.Delete(path);
                }
                throw new BelayException(e is UnauthorizedAccessException ? ExitCodes.NeedsPrivileges : ExitCodes.Error,
                    $"cannot write the keys into {dir}: {SystemErrors.Describe(e)}; give --out a folder you may write to{(written.Count > 0 ? " (nothing was kept)" : "")}", e);
            }
            Console.WriteLine($"wrote {dir}/{{{string.Join(",", names)}}}.{{key,pub}}{(string.IsNullOrEmpty(password) ? " (secret keys unencrypted, mode 0600: keep root.key offline)" : " (secret keys encrypted)")}");
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Sign()
    {
        var files = new Argument<FileInfo[]>("files") { Description = "Files to sign; each gets FILE.minisig beside it.", Arity = ArgumentArity.OneOrMore };
        var key = new Option<FileInfo>("--key", "-s") { Description = "The minisign secret key.", Required = true };
        var passwordFile = new Option<FileInfo?>("--password-file") { Description = "The key's password (or BELAY_KEY_PASSWORD)." };
        var comment = new Option<string?>("--trusted-comment", "-t") { Description = "Trusted comment (signed). Default: timestamp and file name." };
        var legacy = new Option<bool>("--legacy") { Description = "Sign the file itself (minisign 'Ed') instead of its BLAKE2b-512 hash ('ED'); for very old verifiers only." };
        var command = new Command("sign", "Sign files with a minisign secret key.") { files, key, passwordFile, comment, legacy };
        command.SetAction(result =>
        {
            var secret = LoadSecretKey(result.GetRequiredValue(key), CliHost.ReadPassword(result.GetValue(passwordFile)));
            foreach (var file in result.GetRequiredValue(files))
            {
                if (!file.Exists)
                {
                    throw new BelayException($"{file.FullName} not found");
                }
                MinisignSignature sig;
                try
                {
                    sig = secret.SignFile(file.FullName, result.GetValue(comment), prehash: !result.GetValue(legacy));
                    AtomicFile.WriteAllBytes(file.FullName + ".minisig", sig.ToFileBytes());
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new BelayException(e is UnauthorizedAccessException ? ExitCodes.NeedsPrivileges : ExitCodes.Error,
                        $"cannot sign {file.FullName} (read it, write {file.Name}.minisig beside it): {SystemErrors.Describe(e)}", e);
                }
                Console.WriteLine($"signed {file.FullName} -> {file.Name}.minisig (key {secret.PublicKey.KeyIdHex})");
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    public static MinisignSecretKey LoadSecretKey(FileInfo file, string? password)
    {
        if (!file.Exists)
        {
            throw new BelayException(ExitCodes.Usage, $"secret key {file.FullName} not found (make one with belay-release keygen)");
        }
        string text;
        try
        {
            text = File.ReadAllText(file.FullName);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BelayException(e is UnauthorizedAccessException ? ExitCodes.NeedsPrivileges : ExitCodes.Error,
                $"cannot read the secret key {file.FullName}: {SystemErrors.Describe(e)}; it is readable by its owner only: run this as that user", e);
        }
        try
        {
            return MinisignSecretKey.Parse(text, password);
        }
        catch (MinisignException e) when (e.Failure == MinisignFailure.PasswordRequired)
        {
            throw new BelayException(ExitCodes.Usage, $"{file.FullName} is encrypted: give its password with --password-file or BELAY_KEY_PASSWORD", e);
        }
        catch (MinisignException e)
        {
            throw new BelayException(ExitCodes.Usage, $"{file.FullName}: {e.Message}", e);
        }
    }
}
