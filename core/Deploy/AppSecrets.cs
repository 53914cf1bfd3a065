using System.Text;
using Belay.Core.Encryption;

namespace Belay.Core.Deploy;

/// <summary>
/// An app's environment with its secrets decrypted, for the agent to hand to the app and its
/// hooks and nowhere else (docs/deployments.md, "Secrets"). The entry points, stable for the agent:
/// <list type="bullet">
/// <item><see cref="LoadIdentity"/>: the group identity file the host holds (config folder,
/// <c>group-identity</c>, mode 0600), refused when others may read it;</item>
/// <item><see cref="ResolveEnvironment"/>: name → value for one app, plain values as they are and
/// <c>{ "age": … }</c> values decrypted; a value that does not decrypt is a
/// <see cref="SecretException"/> naming the app and the variable, for that app only.</item>
/// </list>
/// Nothing here logs, and no exception message holds a value or key material: the caller
/// must keep it that way (values go into a child's environment, never into a log line, a
/// status file or a report).
/// </summary>
public static class AppSecrets
{
    /// <summary>
    /// Reads the group identity: at least one <c>AGE-SECRET-KEY-1…</c> line. On Unix the file must
    /// not be readable or writable by group or others (as install writes it); null when it does not exist.
    /// </summary>
    /// <exception cref="SecretException">The file is open to others, unreadable, or not an age identity.</exception>
    public static IReadOnlyList<AgeIdentity>? LoadIdentity(string path) =>
        LoadIdentity(path, IO.SecretProtection.ForThisSystem(IO.OwnerOnlyScope.System));

    /// <summary>As <see cref="LoadIdentity(string)"/>, a DPAPI-sealed file (Windows) opened with <paramref name="protection"/>; a plain one read as it is.</summary>
    public static IReadOnlyList<AgeIdentity>? LoadIdentity(string path, IO.SecretProtection? protection)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            return null;
        }
        if (!OperatingSystem.IsWindows())
        {
            var mode = File.GetUnixFileMode(path);
            var open = mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite);
            if (open != 0)
            {
                throw new SecretException(null, null, null,
                    $"{path} is readable or writable by others (mode {Convert.ToString((int)mode, 8)}); a group identity must be owner-only: chmod 600 {path}, and consider it leaked if others could read it");
            }
        }
        string text;
        try
        {
            text = Encoding.UTF8.GetString(IO.SecretProtection.Open(File.ReadAllBytes(path), protection, $"the group identity {path}"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SecretException(null, null, null, $"cannot read the group identity {path}: {e.Message}", e);
        }
        catch (BelayException e)
        {
            throw new SecretException(null, null, null, e.Message, e);
        }
        try
        {
            return AgeIdentity.ParseFile(text, path);
        }
        catch (AgeException e)
        {
            throw new SecretException(null, null, e.Failure, e.Message, e);
        }
    }

    /// <summary>
    /// The environment of <paramref name="app"/> as the document gives it, secrets decrypted with
    /// <paramref name="identities"/> (null when the host holds no group identity).
    /// </summary>
    /// <exception cref="SecretException">A secret that does not decrypt (or no identity to decrypt it with); names the app and the variable.</exception>
    public static Dictionary<string, string> ResolveEnvironment(string app, DesiredApp desired, IReadOnlyList<AgeIdentity>? identities)
    {
        ArgumentNullException.ThrowIfNull(desired);
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in desired.Env.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (value.Age is not { } armored)
            {
                environment[name] = value.Value ?? "";
                continue;
            }
            if (identities is null || identities.Count == 0)
            {
                throw new SecretException(app, name, AgeFailure.NoMatchingIdentity,
                    $"app {app}: {name} is a secret, but this host holds no group identity to decrypt it: install one with belay install --group-identity FILE");
            }
            byte[] plain;
            try
            {
                plain = Age.Decrypt(armored, identities);
            }
            catch (AgeException e)
            {
                throw new SecretException(app, name, e.Failure, $"app {app}: secret {name} does not decrypt: {e.Message}", e);
            }
            try
            {
                environment[name] = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(plain);
            }
            catch (DecoderFallbackException e)
            {
                throw new SecretException(app, name, AgeFailure.Payload, $"app {app}: secret {name} decrypts to bytes that are not UTF-8 text, which an environment variable cannot carry", e);
            }
            finally
            {
                System.Security.Cryptography.CryptographicOperations.ZeroMemory(plain);
            }
            if (environment[name].Contains('\0', StringComparison.Ordinal))
            {
                throw new SecretException(app, name, AgeFailure.Payload, $"app {app}: secret {name} holds a NUL character, which no environment can carry");
            }
        }
        return environment;
    }

    /// <summary>The names of <paramref name="desired"/>'s secret variables (for masking in what is shown).</summary>
    public static IReadOnlySet<string> SecretNames(DesiredApp desired)
    {
        ArgumentNullException.ThrowIfNull(desired);
        return desired.Env.Where(p => p.Value.IsSecret).Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
    }
}

/// <summary>
/// A secret of an app that could not be decrypted, or a group identity that could not be read.
/// The message names the file, the app and the variable, never a value.
/// </summary>
public sealed class SecretException : BelayException
{
    public SecretException(string? app, string? variable, AgeFailure? failure, string message, Exception? inner = null)
        : base(ExitCodes.Error, message, inner)
    {
        App = app;
        Variable = variable;
        Failure = failure;
    }

    public SecretException()
        : this(null, null, null, "secret error")
    {
    }

    public SecretException(string message)
        : this(null, null, null, message)
    {
    }

    public SecretException(string message, Exception inner)
        : this(null, null, null, message, inner)
    {
    }

    /// <summary>The app whose deploy this fails, or null for the identity itself.</summary>
    public string? App { get; }

    /// <summary>The variable, or null.</summary>
    public string? Variable { get; }

    /// <summary>Why age failed, or null for a file problem.</summary>
    public AgeFailure? Failure { get; }
}
