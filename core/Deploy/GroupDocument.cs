using System.Text.Json;
using System.Text.Json.Serialization;
using Belay.Core.Feed;

namespace Belay.Core.Deploy;

/// <summary>
/// groups/&lt;group&gt;.json: the desired state of every host in one group (DESIGN.md,
/// "Deployments"), signed by a deploy key of root.json. Entry points:
/// <list type="bullet">
/// <item><see cref="Parse"/>: bytes to a document whose every field was checked, or a trust
/// failure naming the file, the field and what is allowed (unknown fields are ignored, so a
/// newer publisher can add some);</item>
/// <item><see cref="GroupTrust.Verify"/>: the same, after the signature, the group name, the
/// sequence watermark and the expiry (what a host calls);</item>
/// <item><see cref="Serialize"/>: what <c>belay-release deploy</c> writes.</item>
/// </list>
/// <code>
/// { "schema": 1, "kind": "belay.group", "group": "web-prod", "sequence": 318, "expires": "2027-01-05T00:00:00Z",
///   "apps": { "shop": { "version": "2.7.1", "state": "running",
///       "artifacts": { "linux-x64": { "path": "apps/shop/2.7.1/shop-2.7.1-linux-x64.tar.gz", "sha256": "…", "size": 18234112 } },
///       "env": { "PORT": "8080", "DB_PASSWORD": { "age": "-----BEGIN AGE ENCRYPTED FILE-----\n…" } },
///       "user": "shop", "rollout": { "percent": 100 } } } }
/// </code>
/// </summary>
public sealed class GroupDocument
{
    /// <summary>The value of <see cref="Kind"/>: what tells a group document from any other signed JSON.</summary>
    public const string KindValue = "belay.group";

    public int Schema { get; set; } = 1;
    public string Kind { get; set; } = KindValue;
    public string Group { get; set; } = "";

    /// <summary>Only grows; a host never accepts a lower sequence for this group than it has seen.</summary>
    public long Sequence { get; set; }

    /// <summary>After this instant a host stops believing the document (bounds a replay, a freeze).</summary>
    public DateTimeOffset Expires { get; set; }

    /// <summary>The apps of the group, by name. An app that is not listed is left alone (not removed): removal is an explicit <c>"state": "absent"</c>.</summary>
    public Dictionary<string, DesiredApp> Apps { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Parses and checks a group document. Everything wrong is named in one trust failure
    /// (exit code 3): "<paramref name="source"/>: apps.shop.artifacts.linux-x64.sha256: 'xyz' is not 64 lower-case hex digits; …".
    /// Does not check the signature, the sequence or the expiry: <see cref="GroupTrust.Verify"/> does.
    /// </summary>
    public static GroupDocument Parse(ReadOnlySpan<byte> json, string source)
    {
        GroupDocument? document;
        try
        {
            document = JsonSerializer.Deserialize(json, DeployJsonContext.Default.GroupDocument);
        }
        catch (JsonException e)
        {
            var field = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "" : $" {e.Path.TrimStart('$', '.')}:";
            throw BelayException.Trust($"{source}:{field} not a valid group document ({FirstSentence(e.Message)})", e);
        }
        if (document is null)
        {
            throw BelayException.Trust($"{source} is empty (null JSON), not a group document");
        }
        var problems = document.Problems();
        if (problems.Count > 0)
        {
            throw BelayException.Trust($"{source}: {string.Join("; ", problems)}");
        }
        return document;
    }

    /// <summary>UTF-8 JSON, indented, ending in a newline: the bytes that are signed.</summary>
    public byte[] Serialize() => [.. JsonSerializer.SerializeToUtf8Bytes(this, Readable.GroupDocument), (byte)'\n'];

    // Only what JSON requires is escaped ('"', '\\', control characters), so that an armored
    // secret's '+' and '/' read as themselves in the file a publisher reviews.
    private static readonly DeployJsonContext Readable = new(new JsonSerializerOptions(DeployJsonContext.Default.Options)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    /// <summary>Everything structurally wrong with the document, each as "field: what is wrong (what is allowed)"; empty when it is sound.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (Schema != 1)
        {
            problems.Add($"schema: {Schema} is not supported (this Belay reads schema 1)");
        }
        if (Kind != KindValue)
        {
            problems.Add($"kind: '{Kind}' is not '{KindValue}': this is not a group document");
        }
        if (!DeployNames.IsValidGroup(Group))
        {
            problems.Add($"group: '{Group}' is not a group name ({DeployNames.GroupRule})");
        }
        if (Sequence < 1)
        {
            problems.Add($"sequence: {Sequence} must be at least 1");
        }
        if (Expires == default)
        {
            problems.Add("expires: missing (a UTC time like 2027-01-05T00:00:00Z)");
        }
        if (Apps is null)
        {
            problems.Add("apps: must be an object of apps by name (it may be empty: {})");
            return problems;
        }
        foreach (var (name, app) in Apps.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!DeployNames.IsValidApp(name))
            {
                problems.Add($"apps.{name}: '{name}' is not an app name ({DeployNames.AppRule})");
                continue;
            }
            if (app is null)
            {
                problems.Add($"apps.{name}: must be an object with version, state and artifacts");
                continue;
            }
            problems.AddRange(app.Problems($"apps.{name}", name));
        }
        return problems;
    }

    private static string FirstSentence(string message)
    {
        // System.Text.Json appends "Path: … | LineNumber: … | BytePositionInLine: …": keep the line, drop the rest.
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        var line = message.IndexOf("LineNumber: ", StringComparison.Ordinal);
        var head = cut > 0 ? message[..cut] : message;
        if (line > 0)
        {
            var end = message.IndexOf(' ', line + 12);
            var number = end > 0 ? message[(line + 12)..end] : message[(line + 12)..];
            if (int.TryParse(number, out var n))
            {
                head += $" at line {n + 1}";
            }
        }
        return head.TrimEnd('.');
    }
}

/// <summary>What a group document says about one app: which release, in which state, with which environment.</summary>
public sealed class DesiredApp
{
    /// <summary>The release to run; not needed when <see cref="State"/> is absent.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Version { get; set; }

    /// <summary>running, stopped (installed, not running) or absent (stopped, uninstall hook run, release folders removed).</summary>
    public string State { get; set; } = "running";

    /// <summary>The release's archives by RID, or <c>any</c> for a platform-independent one; a host's own RID wins over any.</summary>
    public Dictionary<string, ArtifactEntry> Artifacts { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The app's environment: plain values (public: the feed is static files), or age-encrypted secrets.</summary>
    public Dictionary<string, EnvValue> Env { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The user the app and its hooks run as; null for the agent's own user.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? User { get; set; }

    /// <summary>Which hosts take this version: the formula of <see cref="DeployPolicy.IsAdmitted"/>, with the app name mixed in.</summary>
    public Rollout Rollout { get; set; } = new();

    /// <summary>The state as an enum (the document is checked, so it is one of the three).</summary>
    [JsonIgnore]
    public AppDesiredState DesiredState => State switch
    {
        "stopped" => AppDesiredState.Stopped,
        "absent" => AppDesiredState.Absent,
        _ => AppDesiredState.Running,
    };

    /// <summary>Problems of this entry, each prefixed with <paramref name="field"/> (apps.NAME).</summary>
    public IEnumerable<string> Problems(string field, string app)
    {
        if (State is not ("running" or "stopped" or "absent"))
        {
            yield return $"{field}.state: '{State}' is not one of running, stopped, absent";
        }
        var absent = State == "absent";
        if (Version is null)
        {
            if (!absent)
            {
                yield return $"{field}.version: missing (every app that is running or stopped names its release)";
            }
        }
        else if (!DeployNames.IsValidVersion(Version))
        {
            yield return $"{field}.version: '{Version}' is not a version ({DeployNames.VersionRule})";
        }
        if (User is not null && !DeployNames.IsValidUser(User))
        {
            yield return $"{field}.user: '{User}' is not a user name ({DeployNames.UserRule})";
        }
        if (Rollout is null)
        {
            yield return $"{field}.rollout: must be an object like {{\"percent\": 100}}";
        }
        else if (Rollout.Percent is < 0 or > 100)
        {
            yield return $"{field}.rollout.percent: {Rollout.Percent} is not between 0 and 100";
        }
        if (Artifacts is null)
        {
            yield return $"{field}.artifacts: must be an object of archives by RID";
        }
        else
        {
            if (Artifacts.Count == 0 && !absent)
            {
                yield return $"{field}.artifacts: empty (a running or stopped app needs an archive for at least one RID, or '{FeedLayout.AnyRid}')";
            }
            foreach (var (rid, artifact) in Artifacts.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                var at = $"{field}.artifacts.{rid}";
                if (rid != FeedLayout.AnyRid && !FeedLayout.IsValidRid(rid))
                {
                    yield return $"{at}: '{rid}' is not a runtime identifier (like linux-x64, osx-arm64, win-x64) or '{FeedLayout.AnyRid}'";
                    continue;
                }
                if (artifact is null)
                {
                    yield return $"{at}: must be an object with path, sha256 and size";
                    continue;
                }
                if (Version is not null && DeployNames.IsValidVersion(Version))
                {
                    // Mix and match: the signed entry names exactly this app's archive of this version for this RID.
                    var expected = FeedLayout.AppArchive(app, Version, rid);
                    if (artifact.Path != expected)
                    {
                        yield return $"{at}.path: '{artifact.Path}' is not {expected} (an entry names its own app, version and RID's archive)";
                    }
                }
                if (artifact.Sha256 is null || artifact.Sha256.Length != 64 || !artifact.Sha256.All(char.IsAsciiHexDigitLower))
                {
                    yield return $"{at}.sha256: '{artifact.Sha256}' is not 64 lower-case hex digits";
                }
                if (artifact.Size <= 0)
                {
                    yield return $"{at}.size: {artifact.Size} must be a positive number of bytes";
                }
                if (artifact.Compact is not null)
                {
                    yield return $"{at}.compact: an app's archive has no compact form (only the agent's archives do)";
                }
            }
        }
        if (Env is null)
        {
            yield return $"{field}.env: must be an object of variables by name";
            yield break;
        }
        foreach (var (name, value) in Env.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var at = $"{field}.env.{name}";
            if (!DeployNames.IsValidEnvName(name))
            {
                yield return $"{at}: '{name}' is not a variable name ({DeployNames.EnvRule})";
                continue;
            }
            if (value is null)
            {
                yield return $"{at}: must be a string or {{\"age\": \"-----BEGIN AGE ENCRYPTED FILE-----…\"}}";
            }
            else if (value.Age is { } armored)
            {
                if (!armored.TrimStart().StartsWith(Encryption.AgeArmor.Begin, StringComparison.Ordinal))
                {
                    yield return $"{at}.age: not an armored age file (it must start with {Encryption.AgeArmor.Begin}; make it with belay-release deploy --secret or age -a)";
                }
            }
            else if (value.Value is { } plain && plain.Contains('\0', StringComparison.Ordinal))
            {
                yield return $"{at}: holds a NUL character, which no environment can carry";
            }
        }
    }
}

/// <summary>What a host does with an app of the group document.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(Belay.Core.IO.EnumNameConverter<AppDesiredState>))]
public enum AppDesiredState
{
    /// <summary>Installed at the version named, and supervised.</summary>
    Running,

    /// <summary>Installed at the version named, not running.</summary>
    Stopped,

    /// <summary>Stopped, its uninstall hook run, its release folders removed.</summary>
    Absent,
}

/// <summary>
/// One environment value of a group document: a plain string (public, like the whole feed),
/// or an age-encrypted secret <c>{ "age": ARMORED }</c> that only hosts holding the group
/// identity can read (<see cref="AppSecrets"/>). <see cref="ToString"/> never shows a value.
/// </summary>
[JsonConverter(typeof(EnvValueConverter))]
public sealed class EnvValue
{
    private EnvValue(string? value, string? age)
    {
        Value = value;
        Age = age;
    }

    /// <summary>The plain value, or null for a secret.</summary>
    public string? Value { get; }

    /// <summary>The armored age ciphertext of a secret, or null for a plain value.</summary>
    public string? Age { get; }

    public bool IsSecret => Age is not null;

    public static EnvValue Plain(string value) => new(value ?? throw new ArgumentNullException(nameof(value)), null);

    public static EnvValue Secret(string armored) => new(null, armored ?? throw new ArgumentNullException(nameof(armored)));

    public override string ToString() => IsSecret ? "(age secret)" : "(plain value)";
}

/// <summary>Reads an env value as a JSON string or an object with an "age" string (other members ignored); writes it back the same way.</summary>
internal sealed class EnvValueConverter : JsonConverter<EnvValue>
{
    public override EnvValue? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                return EnvValue.Plain(reader.GetString()!);
            case JsonTokenType.StartObject:
                string? age = null;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                {
                    if (reader.TokenType != JsonTokenType.PropertyName)
                    {
                        throw new JsonException("an env value object holds members only");
                    }
                    var name = reader.GetString();
                    reader.Read();
                    if (name == "age")
                    {
                        if (reader.TokenType != JsonTokenType.String)
                        {
                            throw new JsonException("an env value's \"age\" must be a string: the armored age file");
                        }
                        age = reader.GetString();
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
                return age is null
                    ? throw new JsonException("an env value object must have an \"age\" member (an age-encrypted secret)")
                    : EnvValue.Secret(age);
            case JsonTokenType.Null:
                return null;
            default:
                throw new JsonException($"an env value must be a string or {{\"age\": …}}, not {reader.TokenType.ToString().ToLowerInvariant()} (quote numbers: \"8080\")");
        }
    }

    public override void Write(Utf8JsonWriter writer, EnvValue value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        if (value.Age is { } age)
        {
            writer.WriteStartObject();
            writer.WriteString("age", age);
            writer.WriteEndObject();
        }
        else
        {
            writer.WriteStringValue(value.Value);
        }
    }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    AllowTrailingCommas = false,
    AllowDuplicateProperties = false,
    Converters = [typeof(UtcTimestampConverter)])]
[JsonSerializable(typeof(GroupDocument))]
internal sealed partial class DeployJsonContext : JsonSerializerContext;
