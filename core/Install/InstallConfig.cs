using System.Text.Json;
using System.Text.Json.Serialization;
using Belay.Core.Deploy;
using Belay.Core.Feed;
using Belay.Core.IO;
using Belay.Core.Minisign;

namespace Belay.Core.Install;

/// <summary>
/// config.json: what `belay install` was told, read by the keeper and the agent. Written
/// atomically with mode 0600 (it may carry a token). Durations are written the way
/// operators type them: "10s", "1m".
/// </summary>
public sealed class InstallConfig
{
    public int Schema { get; set; } = 1;

    /// <summary>Feed URLs (or folders), tried in turn.</summary>
    public List<string> Feeds { get; set; } = [];
    public string Channel { get; set; } = FeedLayout.DefaultChannel;

    /// <summary>The group whose desired state (groups/&lt;group&gt;.json) the agent converges this host to (belay install --group, belay config set group).</summary>
    public string Group { get; set; } = DeployNames.DefaultGroup;
    public string Product { get; set; } = FeedLayout.DefaultProduct;

    /// <summary>The root keys this host trusts (pinned at install; changed only by a signed root rotation).</summary>
    public List<string> RootKeys { get; set; } = [];

    /// <summary>A version to stay on; null follows the channel.</summary>
    public string? PinnedVersion { get; set; }
    public string Scope { get; set; } = "system";
    public string ServiceManager { get; set; } = "none";
    public string PollInterval { get; set; } = "10s";
    public string TrialDeadline { get; set; } = "60s";
    public int MaxTries { get; set; } = 3;
    public bool AllowInsecureHttp { get; set; }

    /// <summary>The agent's token (set by hand or by an installer, e.g. the MSI's TOKEN property): the reason this
    /// file is 0600. Never logged; `belay status --json` shows "***".</summary>
    public string? Token { get; set; }

    /// <summary>The token under DPAPI, base64: what config.json holds on Windows instead of <see cref="Token"/>
    /// (<see cref="SecretProtection"/>), read back into <see cref="Token"/> by <see cref="Parse(ReadOnlySpan{byte}, string, SecretProtection?)"/>.</summary>
    public string? TokenDpapi { get; set; }

    /// <summary>The file held the token in clear (written before DPAPI, or by hand): on Windows the agent rewrites it protected.</summary>
    [JsonIgnore]
    public bool TokenInClear { get; private set; }

    /// <summary>Why <see cref="TokenDpapi"/> could not be read here (another machine's blob, damaged, not Windows); null when it was or there is none.
    /// The protected value is kept as it is by <see cref="Save(string)"/>: what cannot be read is not thrown away.</summary>
    [JsonIgnore]
    public string? TokenProblem { get; private set; }
    public ConfigPaths Paths { get; set; } = new();

    [JsonIgnore]
    public InstallLayout Layout => new(Paths.Bin, Paths.Config, Paths.State, Paths.Log);

    [JsonIgnore]
    public TimeSpan PollIntervalValue => Durations.Parse(PollInterval);

    [JsonIgnore]
    public TimeSpan TrialDeadlineValue => Durations.Parse(TrialDeadline);

    public IReadOnlyList<MinisignPublicKey> ParseRootKeys() => [.. RootKeys.Select(MinisignPublicKey.Parse)];

    /// <summary>What each field of config.json may hold, for the messages of <see cref="JsonFile"/> and <see cref="Validate"/>.</summary>
    public static readonly IReadOnlyDictionary<string, string> Fields = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["schema"] = "1",
        ["feeds"] = "a list of one or more feed URLs or folders (strings)",
        ["feeds[]"] = "a feed URL or folder (a string)",
        ["channel"] = "a channel name (letters, digits, '.', '_' and '-')",
        ["group"] = $"a deployment group name ({DeployNames.GroupRule})",
        ["product"] = "a product name (a string)",
        ["rootKeys"] = "a list of one or more minisign public keys (base64 strings)",
        ["rootKeys[]"] = "a minisign public key (a base64 string)",
        ["pinnedVersion"] = "a version like 1.2.3, or null to follow the channel",
        ["scope"] = "\"system\" or \"user\"",
        ["serviceManager"] = $"one of {string.Join(", ", Services.ServiceManagers.Names)}",
        ["pollInterval"] = "a duration like 10s",
        ["trialDeadline"] = "a duration like 60s",
        ["maxTries"] = "a whole number from 1 to 100",
        ["allowInsecureHttp"] = "true or false",
        ["token"] = "a string, or null",
        ["tokenDpapi"] = "the token protected with DPAPI (base64, written by Belay on Windows), or null",
        ["paths"] = "an object with the folders bin, config, state and log",
        ["paths.bin"] = "an absolute folder (a string)",
        ["paths.config"] = "an absolute folder (a string)",
        ["paths.state"] = "an absolute folder (a string)",
        ["paths.log"] = "an absolute folder (a string)",
    };

    /// <summary>What to do about a config.json that is not right.</summary>
    public const string Remedy = "fix it, or run belay install again with this installation's options (it rewrites config.json)";

    public static InstallConfig Load(string path)
    {
        var bytes = JsonFile.ReadBytes(path, Remedy)
            ?? throw new BelayException($"Belay is not installed here: {path} not found. Install it with belay install --feed URL, or give --prefix/--scope of the installation");
        return Parse(bytes, path);
    }

    /// <summary>Reads config.json's bytes (from <paramref name="source"/>), every field checked.</summary>
    public static InstallConfig Parse(ReadOnlySpan<byte> json, string source) =>
        Parse(json, source, SecretProtection.ForThisSystem(OwnerOnlyScope.System));

    /// <summary>Reads config.json's bytes, the token unprotected with <paramref name="protection"/> (null: not Windows).</summary>
    public static InstallConfig Parse(ReadOnlySpan<byte> json, string source, SecretProtection? protection)
    {
        var config = JsonFile.Parse(json, source, InstallJsonContext.Default.InstallConfig, Fields, Remedy);
        config.Validate(source);
        config.TokenInClear = config.Token is not null;
        if (config.Token is null && config.TokenDpapi is { Length: > 0 } blob)
        {
            // A token that does not unprotect must not keep the keeper or the agent from starting: nothing reads it to run.
            try
            {
                config.Token = protection is null
                    ? throw new BelayException($"{source}: the token is DPAPI-protected (tokenDpapi), which only the Windows machine that wrote it can read")
                    : protection.UnprotectText(blob, $"{source}'s token");
            }
            catch (BelayException e)
            {
                config.TokenProblem = e.Message;
            }
        }
        return config;
    }

    /// <summary>Writes config.json owner-only, the token DPAPI-protected on Windows.</summary>
    public void Save(string path) => Save(path, SecretProtection.ForThisSystem(SecretScope));

    public void Save(string path, SecretProtection? protection, OwnerOnlyAcl? acl = null)
    {
        var token = Token;
        if (token is not null)
        {
            TokenDpapi = protection?.ProtectText(token, $"{path}'s token");
            Token = protection is null ? token : null;
        }
        else if (TokenProblem is null)
        {
            TokenDpapi = null;
        }
        try
        {
            AtomicFile.WriteSecret(path, [.. JsonSerializer.SerializeToUtf8Bytes(this, InstallJsonContext.Default.InstallConfig), (byte)'\n'], SecretScope, acl);
            TokenInClear = Token is not null;
        }
        finally
        {
            Token = token;
        }
    }

    /// <summary>Who may read config.json on Windows (its ACL): the machine's admins for a system install, the installing user for a user install.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public OwnerOnlyScope SecretScope => string.Equals(Scope, "user", StringComparison.OrdinalIgnoreCase) ? OwnerOnlyScope.User : OwnerOnlyScope.System;

    /// <summary>Checks every field a hand edit could break, naming the file (or <paramref name="source"/>) and the field.</summary>
    public void Validate(string source, string remedy = Remedy)
    {
        void Fail(string field, string problem) => throw new JsonFileException(source, field, $"{problem}; expected {Fields[field]}", remedy);
        if (Schema != 1)
        {
            Fail("schema", $"{Schema} is not supported");
        }
        if (Feeds is null || Feeds.Count == 0)
        {
            Fail("feeds", Feeds is null ? "null is not allowed" : "the list is empty");
        }
        for (var i = 0; i < Feeds!.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(Feeds[i]))
            {
                throw new JsonFileException(source, $"feeds[{i}]", $"{(Feeds[i] is null ? "null" : "an empty string")} is not allowed; expected {Fields["feeds[]"]}", remedy);
            }
        }
        if (Channel is null || !FeedLayout.IsValidChannel(Channel))
        {
            Fail("channel", Channel is null ? "null is not allowed" : $"'{Channel}' is not a channel name");
        }
        if (Group is null || !DeployNames.IsValidGroup(Group))
        {
            Fail("group", Group is null ? "null is not allowed" : $"'{Group}' is not a group name ({DeployNames.GroupRule})");
        }
        if (string.IsNullOrWhiteSpace(Product))
        {
            Fail("product", Product is null ? "null is not allowed" : "an empty string is not allowed");
        }
        if (RootKeys is null || RootKeys.Count == 0)
        {
            Fail("rootKeys", RootKeys is null ? "null is not allowed" : "the list is empty");
        }
        for (var i = 0; i < RootKeys!.Count; i++)
        {
            if (RootKeys[i] is not { } key)
            {
                throw new JsonFileException(source, $"rootKeys[{i}]", $"null is not allowed; expected {Fields["rootKeys[]"]}", remedy);
            }
            if (!MinisignPublicKey.TryParse(key, out _, out var error))
            {
                throw new JsonFileException(source, $"rootKeys[{i}]", $"'{key}' is not a minisign public key ({error}); expected {Fields["rootKeys[]"]}", remedy);
            }
        }
        if (PinnedVersion is not null && !Versioning.SemVersion.TryParse(PinnedVersion, out _, out var versionError))
        {
            Fail("pinnedVersion", $"'{PinnedVersion}' is not a version ({versionError})");
        }
        if (Scope is not ("system" or "user"))
        {
            Fail("scope", Scope is null ? "null is not allowed" : $"'{Scope}' is not allowed");
        }
        if (ServiceManager is null || !Services.ServiceManagers.Names.Contains(ServiceManager))
        {
            Fail("serviceManager", ServiceManager is null ? "null is not allowed" : $"'{ServiceManager}' is not a service manager Belay knows");
        }
        if (!Durations.TryParse(PollInterval, out _))
        {
            Fail("pollInterval", PollInterval is null ? "null is not allowed" : $"'{PollInterval}' is not a duration");
        }
        if (!Durations.TryParse(TrialDeadline, out _))
        {
            Fail("trialDeadline", TrialDeadline is null ? "null is not allowed" : $"'{TrialDeadline}' is not a duration");
        }
        if (MaxTries is < 1 or > 100)
        {
            Fail("maxTries", $"{MaxTries} is out of range");
        }
        if (Paths is null)
        {
            Fail("paths", "null is not allowed");
        }
        foreach (var (name, value) in new[] { ("bin", Paths!.Bin), ("config", Paths.Config), ("state", Paths.State), ("log", Paths.Log) })
        {
            if (string.IsNullOrEmpty(value) || !Path.IsPathFullyQualified(value))
            {
                Fail($"paths.{name}", value is null ? "null is not allowed" : value.Length == 0 ? "it is missing or empty" : $"'{value}' is not an absolute path");
            }
        }
        if (Paths.Link is { } link && (link.Length == 0 || !Path.IsPathFullyQualified(link)))
        {
            Fail("paths.link", $"'{link}' is not an absolute path (the link to belay that uninstall removes)");
        }
    }
}

public sealed class ConfigPaths
{
    public string Bin { get; set; } = "";
    public string Config { get; set; } = "";
    public string State { get; set; } = "";
    public string Log { get; set; } = "";

    /// <summary>The link to bin/belay that install made on PATH (/usr/local/bin/belay), or null; uninstall removes it if it is still Belay's.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Link { get; set; }

    public static ConfigPaths From(InstallLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return new() { Bin = layout.BinRoot, Config = layout.ConfigDir, State = layout.StateDir, Log = layout.LogDir };
    }
}

/// <summary>agent.json: what the agent last did, written by the agent, read by belay status.</summary>
public sealed class AgentStatus
{
    public int Pid { get; set; }
    public string Version { get; set; } = "";
    public bool Ready { get; set; }
    public LastCheck? LastCheck { get; set; }

    /// <summary>The highest manifest sequence seen: a lower one is a replay and is refused.</summary>
    public long Sequence { get; set; }
    public string? ManifestETag { get; set; }
    public DateTimeOffset? ManifestExpires { get; set; }

    /// <summary>A version downloaded, verified and laid out, waiting for the keeper to switch to it.</summary>
    public string? Staged { get; set; }

    /// <summary>The last poll of the group document (deployments).</summary>
    public Deploy.GroupCheck? GroupCheck { get; set; }

    /// <summary>What each field of agent.json may hold.</summary>
    public static readonly IReadOnlyDictionary<string, string> Fields = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["pid"] = "a process id (a whole number)",
        ["version"] = "a version (a string)",
        ["ready"] = "true or false",
        ["lastCheck"] = "an object with at, result and error, or null",
        ["lastCheck.at"] = "a date and time like 2026-01-31T12:00:00Z",
        ["lastCheck.result"] = "ok, not-modified, update-staged, stale or error",
        ["lastCheck.error"] = "a message (a string), or null",
        ["sequence"] = "a manifest sequence (a whole number, 0 or more)",
        ["manifestETag"] = "an ETag (a string), or null",
        ["manifestExpires"] = "a date and time, or null",
        ["staged"] = "a version (a string), or null",
        ["groupCheck"] = "an object with at, result, error and sequence, or null",
    };

    /// <summary>agent.json only reports: a damaged one is replaced by the agent at its next check.</summary>
    public const string Remedy = "the agent writes a new one at its next start or check; belay doctor --repair removes it now";

    /// <summary>The status, or null when there is none or it is not valid (see <see cref="TryLoad(string, out string?)"/>).</summary>
    public static AgentStatus? TryLoad(string path) => TryLoad(path, out _);

    /// <summary>The status; null with <paramref name="problem"/> null when the file does not exist, or null with
    /// the problem ("FILE: field F: …") when it cannot be read or is not valid.</summary>
    public static AgentStatus? TryLoad(string path, out string? problem)
    {
        problem = null;
        try
        {
            return JsonFile.ReadBytes(path, Remedy) is { } bytes ? Parse(bytes, path) : null;
        }
        catch (JsonFileException e)
        {
            problem = e.Message;
            return null;
        }
    }

    /// <summary>Reads agent.json's bytes, every field checked; a <see cref="JsonFileException"/> when one is wrong.</summary>
    public static AgentStatus Parse(ReadOnlySpan<byte> json, string source)
    {
        var status = JsonFile.Parse(json, source, InstallJsonContext.Default.AgentStatus, Fields, Remedy);
        void Fail(string field, string problem) => throw new JsonFileException(source, field, $"{problem}; expected {Fields[field]}", Remedy);
        if (status.Pid < 0)
        {
            Fail("pid", $"{status.Pid} is negative");
        }
        if (status.Sequence < 0)
        {
            Fail("sequence", $"{status.Sequence} is negative");
        }
        if (status.LastCheck is { Result: null })
        {
            Fail("lastCheck.result", "null is not allowed");
        }
        return status;
    }

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, InstallJsonContext.Default.AgentStatus);

    public void Save(string path) => AtomicFile.WriteAllBytes(path, [.. ToJson(), (byte)'\n']);
}

public sealed class LastCheck
{
    public DateTimeOffset At { get; set; }

    /// <summary>ok, not-modified, update-staged, or error.</summary>
    public string Result { get; set; } = "";
    public string? Error { get; set; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    RespectNullableAnnotations = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(InstallConfig))]
[JsonSerializable(typeof(AgentStatus))]
internal sealed partial class InstallJsonContext : JsonSerializerContext;
