using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Belay.Core.Install;
using Belay.Core.IO;

namespace Belay.Core.Hub;

/// <summary>
/// hub.json in the config folder: which hub this host talks to and the per-host credential it
/// got at enrollment. Written by <c>belay install --hub URL --enroll-token T</c>, read by the agent.
/// The file is owner-only (0600; on Windows the owner-only ACL of config.json) and on Windows the
/// credential is also DPAPI-protected. Without this file the host has no hub and works from the
/// feed alone. The credential is never logged: <see cref="ToString"/> masks it.
/// </summary>
public sealed class HubSettings
{
    public const string FileName = "hub.json";

    public int Schema { get; set; } = 1;

    /// <summary>The hub's base URL (https://, or http:// on loopback or when allowed).</summary>
    public string Url { get; set; } = "";

    /// <summary>The hub's id for this host (not a secret).</summary>
    public string HostId { get; set; } = "";

    /// <summary>The group the enrollment token put this host in.</summary>
    public string Group { get; set; } = "";

    /// <summary>The credential, in clear (POSIX; the file's mode guards it).</summary>
    public string? Credential { get; set; }

    /// <summary>The credential under DPAPI (Windows), base64.</summary>
    public string? CredentialDpapi { get; set; }

    /// <summary>PEM of the CA that signs the hub's certificate (<c>--hub-ca</c>), when it is not in the system store.</summary>
    public string? CaPem { get; set; }

    public bool AllowInsecureHttp { get; set; }

    public static string PathIn(InstallLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return Path.Combine(layout.ConfigDir, FileName);
    }

    /// <summary>The settings, or null when the host has no hub.</summary>
    public static HubSettings? TryLoad(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            var settings = JsonSerializer.Deserialize(File.ReadAllBytes(path), HubSettingsJsonContext.Default.HubSettings)
                ?? throw new BelayException($"{path} is empty");
            settings.Validate(path);
            return settings;
        }
        catch (JsonException e)
        {
            throw new BelayException($"{path} is not valid JSON ({e.Message}); re-run belay install --hub URL --enroll-token TOKEN", e);
        }
    }

    public void Save(string path, OwnerOnlyScope scope, OwnerOnlyAcl? acl = null) =>
        AtomicFile.WriteSecret(path, [.. JsonSerializer.SerializeToUtf8Bytes(this, HubSettingsJsonContext.Default.HubSettings), (byte)'\n'], scope, acl);

    /// <summary>Sets the credential the way this OS keeps it: DPAPI-protected on Windows, in clear elsewhere (the file's mode guards it).</summary>
    public void SetCredential(string credential, OwnerOnlyScope scope) => SetCredential(credential, SecretProtection.ForThisSystem(scope));

    public void SetCredential(string credential, SecretProtection? protection)
    {
        if (protection is not null)
        {
            CredentialDpapi = protection.ProtectText(credential, "hub.json's credential");
            Credential = null;
        }
        else
        {
            Credential = credential;
            CredentialDpapi = null;
        }
    }

    /// <summary>True when the credential is in clear where this OS would protect it (a hub.json from before DPAPI): <see cref="ProtectPlain"/> rewrites it.</summary>
    public bool NeedsProtection(SecretProtection? protection) => protection is not null && Credential is { Length: > 0 };

    /// <summary>Moves a clear credential under DPAPI (the agent does it at start for a file written before); true when it changed something to save.</summary>
    public bool ProtectPlain(SecretProtection? protection)
    {
        if (!NeedsProtection(protection))
        {
            return false;
        }
        SetCredential(Credential!, protection);
        return true;
    }

    public string ReadCredential() => ReadCredential(OperatingSystem.IsWindows() ? SecretProtection.ForThisSystem(OwnerOnlyScope.System) : null);

    public string ReadCredential(SecretProtection? protection)
    {
        if (CredentialDpapi is { Length: > 0 } protectedValue)
        {
            if (protection is null)
            {
                throw new BelayException("hub.json holds a DPAPI-protected credential, which only the Windows machine that wrote it can read");
            }
            return protection.UnprotectText(protectedValue, "hub.json's credential");
        }
        return Credential ?? throw new BelayException("hub.json has no credential; re-run belay install --hub URL --enroll-token TOKEN");
    }

    public Uri BaseUri => new(Url.EndsWith('/') ? Url : Url + "/");

    /// <summary>The WebSocket URL of the agent's connection.</summary>
    public Uri ConnectUri
    {
        get
        {
            var builder = new UriBuilder(new Uri(BaseUri, "agent/v1/connect"));
            builder.Scheme = builder.Scheme == "https" ? "wss" : "ws";
            return builder.Uri;
        }
    }

    public void Validate(string source)
    {
        if (Schema != 1)
        {
            throw new BelayException($"{source}: schema {Schema} is not supported (expected 1)");
        }
        CheckUrl(Url, AllowInsecureHttp, source);
        if (string.IsNullOrEmpty(HostId))
        {
            throw new BelayException($"{source}: hostId is missing; re-run belay install --hub URL --enroll-token TOKEN");
        }
        if (CaPem is { Length: > 0 })
        {
            _ = LoadCa(CaPem, source);
        }
    }

    /// <summary>
    /// https:// always; http:// only to a loopback hub or with --allow-insecure-http: the credential
    /// and the logs travel on this connection, and nothing else protects them.
    /// </summary>
    public static void CheckUrl(string url, bool allowInsecureHttp, string source = "--hub")
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.UserInfo))
        {
            throw new BelayException(ExitCodes.Usage, $"{source}: '{url}' is not a hub URL like https://hub.example.com/");
        }
        if (uri.Scheme == "http" && !uri.IsLoopback && !allowInsecureHttp)
        {
            throw new BelayException(ExitCodes.Usage, $"{source}: {url} is plain http on a non-loopback host: the host's credential and its logs would travel in clear; use https:// (with --hub-ca for a private CA), or --allow-insecure-http on a trusted network");
        }
    }

    /// <summary>The CA certificates of a PEM bundle; a clear error when there is none.</summary>
    public static X509Certificate2Collection LoadCa(string pem, string source)
    {
        var collection = new X509Certificate2Collection();
        try
        {
            collection.ImportFromPem(pem);
        }
        catch (CryptographicException e)
        {
            throw new BelayException(ExitCodes.Usage, $"{source}: the hub CA is not a PEM certificate ({e.Message})", e);
        }
        if (collection.Count == 0)
        {
            throw new BelayException(ExitCodes.Usage, $"{source}: the hub CA holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        }
        return collection;
    }

    /// <summary>
    /// Checks the hub's certificate against the pinned CA (<see cref="CaPem"/>) instead of the
    /// system store: a custom trust root, the host name still checked. Null when no CA is pinned
    /// (the system store decides).
    /// </summary>
    public System.Net.Security.RemoteCertificateValidationCallback? CertificateValidator() =>
        CaPem is { Length: > 0 } pem ? Validator(LoadCa(pem, FileName)) : null;

    public static System.Net.Security.RemoteCertificateValidationCallback Validator(X509Certificate2Collection roots) =>
        (_, certificate, _, errors) =>
        {
            if (certificate is null || (errors & System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch) != 0
                || (errors & System.Net.Security.SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
            {
                return false;
            }
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(roots);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            using var leaf = new X509Certificate2(certificate);
            return chain.Build(leaf);
        };

    public override string ToString() => $"hub {Url} (host {HostId}, group {Group}, credential {Programs.Secrets.Mask})";
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(HubSettings))]
internal sealed partial class HubSettingsJsonContext : JsonSerializerContext;
