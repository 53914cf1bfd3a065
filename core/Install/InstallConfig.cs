using System.Text.Json;
using System.Text.Json.Serialization;
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
    public ConfigPaths Paths { get; set; } = new();

    [JsonIgnore]
    public InstallLayout Layout => new(Paths.Bin, Paths.Config, Paths.State, Paths.Log);

    [JsonIgnore]
    public TimeSpan PollIntervalValue => Durations.Parse(PollInterval);

    [JsonIgnore]
    public TimeSpan TrialDeadlineValue => Durations.Parse(TrialDeadline);

    public IReadOnlyList<MinisignPublicKey> ParseRootKeys() => [.. RootKeys.Select(MinisignPublicKey.Parse)];

    public static InstallConfig Load(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new BelayException($"Belay is not installed here: {path} not found. Install it with belay install --feed URL, or give --prefix/--scope of the installation", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new BelayException(ExitCodes.NeedsPrivileges,
                $"{path} is readable by its owner only (it may hold a token): run it with sudo, or as the user who installed Belay", e);
        }
        catch (IOException e)
        {
            throw new BelayException($"cannot read {path}: {SystemErrors.Describe(e)}", e);
        }
        try
        {
            var config = JsonSerializer.Deserialize(bytes, InstallJsonContext.Default.InstallConfig)
                ?? throw new BelayException($"{path} is empty");
            config.Validate(path);
            return config;
        }
        catch (JsonException e)
        {
            throw new BelayException($"{path} is {SystemErrors.Describe(e)}; fix it or re-run belay install", e);
        }
    }

    public void Save(string path) =>
        AtomicFile.WriteSecret(path, [.. JsonSerializer.SerializeToUtf8Bytes(this, InstallJsonContext.Default.InstallConfig), (byte)'\n'], SecretScope);

    /// <summary>Who may read config.json on Windows (its ACL): the machine's admins for a system install, the installing user for a user install.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public OwnerOnlyScope SecretScope => string.Equals(Scope, "user", StringComparison.OrdinalIgnoreCase) ? OwnerOnlyScope.User : OwnerOnlyScope.System;

    /// <summary>Checks every field a hand edit could break, naming the file and the field.</summary>
    public void Validate(string source)
    {
        void Fail(string field, string problem) => throw new BelayException($"{source}: {field}: {problem}");
        if (Schema != 1)
        {
            Fail("schema", $"{Schema} is not supported (expected 1)");
        }
        if (Feeds.Count == 0)
        {
            Fail("feeds", "at least one feed URL is required");
        }
        if (!FeedLayout.IsValidChannel(Channel))
        {
            Fail("channel", $"'{Channel}' is not a channel name");
        }
        if (RootKeys.Count == 0)
        {
            Fail("rootKeys", "at least one root key is required");
        }
        foreach (var key in RootKeys)
        {
            if (!MinisignPublicKey.TryParse(key, out _, out var error))
            {
                Fail("rootKeys", $"'{key}' is not a minisign public key: {error}");
            }
        }
        if (!Durations.TryParse(PollInterval, out _))
        {
            Fail("pollInterval", $"'{PollInterval}' is not a duration like 10s");
        }
        if (!Durations.TryParse(TrialDeadline, out _))
        {
            Fail("trialDeadline", $"'{TrialDeadline}' is not a duration like 60s");
        }
        if (MaxTries is < 1 or > 100)
        {
            Fail("maxTries", $"{MaxTries} must be between 1 and 100");
        }
        if (string.IsNullOrEmpty(Paths.Bin) || string.IsNullOrEmpty(Paths.Config) || string.IsNullOrEmpty(Paths.State) || string.IsNullOrEmpty(Paths.Log))
        {
            Fail("paths", "bin, config, state and log are all required");
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

    public static AgentStatus? TryLoad(string path)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), InstallJsonContext.Default.AgentStatus);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public void Save(string path) =>
        AtomicFile.WriteAllBytes(path, [.. JsonSerializer.SerializeToUtf8Bytes(this, InstallJsonContext.Default.AgentStatus), (byte)'\n']);
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
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(InstallConfig))]
[JsonSerializable(typeof(AgentStatus))]
internal sealed partial class InstallJsonContext : JsonSerializerContext;
