using System.Text;
using Belay.Core.Deploy;
using Belay.Core.Encryption;
using Belay.Core.Feed;
using Belay.Core.Minisign;

namespace Belay.Core.Publishing;

/// <summary>
/// What <c>belay-release deploy</c> is asked to do to one group's document. With no
/// <see cref="App"/> it only re-signs the document (sequence + 1, a new expiry). Null
/// values keep what the document says.
/// </summary>
/// <param name="Artifacts">Archives by RID (or <c>any</c>) for <see cref="Version"/>; none reuses those already published for that version.</param>
/// <param name="Env">Plain variables to set (public: the feed is static files).</param>
/// <param name="Secrets">Variables to set encrypted to <see cref="Recipients"/>, by name: their plaintext.</param>
/// <param name="Unset">Variables to remove.</param>
/// <param name="State">running, stopped or absent.</param>
public sealed record DeployRequest(
    string FeedDirectory,
    string Group,
    MinisignSecretKey Key,
    string? App = null,
    string? Version = null,
    IReadOnlyDictionary<string, string>? Artifacts = null,
    IReadOnlyDictionary<string, string>? Env = null,
    IReadOnlyDictionary<string, byte[]>? Secrets = null,
    IReadOnlyList<AgeRecipient>? Recipients = null,
    IReadOnlyList<string>? Unset = null,
    string? State = null,
    int? RolloutPercent = null,
    string? User = null,
    TimeSpan? ExpiresIn = null);

public sealed record DeployResult(GroupDocument Document, IReadOnlyList<string> WrittenFiles);

public sealed partial class FeedPublisher
{
    /// <summary>How long a group document is believed when the publisher does not say.</summary>
    public static readonly TimeSpan DefaultGroupLifetime = TimeSpan.FromDays(30);

    /// <summary>
    /// Sets one app of a group's desired state and signs the document (docs/deployments.md, "Publishing"):
    /// <list type="number">
    /// <item>check everything first, writing nothing: root, the key's role (a deploy key), names, the
    /// previous document (its signature, so a tampered one is never re-signed), each archive (its extension,
    /// its belay-app.conf at the top, and that the hosts' defensive extractor takes it), and that an archive already published for this app, version and RID
    /// has the same bytes (a published archive is immutable: caches and hosts may hold it);</item>
    /// <item>copy each new archive to apps/&lt;app&gt;/&lt;version&gt;/ and sign it with the deploy key;</item>
    /// <item>write groups/&lt;group&gt;.json with sequence + 1 and a new expiry, signature first, then the JSON.</item>
    /// </list>
    /// Secrets are encrypted here, to every recipient given, with a fresh file key each; their plaintext is never
    /// written or printed. A failure deletes what this deploy created and leaves the document as it was.
    /// </summary>
    public DeployResult Deploy(DeployRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var feed = Path.GetFullPath(request.FeedDirectory);
        var now = _clock.GetUtcNow();

        // 1. Check everything before writing anything.
        var root = LoadRoot(feed, now);
        CheckDeployKey(root, request.Key);
        if (!DeployNames.IsValidGroup(request.Group))
        {
            throw new BelayException(ExitCodes.Usage, $"'{request.Group}' is not a group name ({DeployNames.GroupRule})");
        }
        var groupPath = Path.Combine(feed, FeedLayout.GroupFile(request.Group));
        var previous = LoadGroup(groupPath, root, request.Group);
        var document = new GroupDocument
        {
            Group = request.Group,
            Sequence = (previous?.Sequence ?? 0) + 1,
            Expires = Truncate(now + (request.ExpiresIn ?? DefaultGroupLifetime)),
            Apps = new Dictionary<string, DesiredApp>(previous?.Apps ?? [], StringComparer.Ordinal),
        };
        var plan = new List<(string Rid, string Source, string Relative)>();
        string what;
        if (request.App is null)
        {
            if (previous is null)
            {
                throw new BelayException(ExitCodes.Usage, $"group {request.Group} has no document yet ({groupPath}): deploy an app to it with --app, --version and --artifact");
            }
            if (request.Version is not null || request.Artifacts is { Count: > 0 } || request.Env is { Count: > 0 } || request.Secrets is { Count: > 0 } ||
                request.Unset is { Count: > 0 } || request.State is not null || request.RolloutPercent is not null || request.User is not null)
            {
                throw new BelayException(ExitCodes.Usage, "--version, --artifact, --env, --secret, --unset, --state, --rollout and --user set one app: name it with --app");
            }
            what = "unchanged, re-signed";
        }
        else
        {
            var (app, files) = PlanApp(feed, request, previous);
            document.Apps[request.App] = app;
            plan.AddRange(files);
            what = $"{request.App} {app.Version ?? "(no version)"} {app.State}" + (app.Rollout.Percent < 100 ? $" at {app.Rollout.Percent}%" : "");
        }
        var problems = document.Problems();
        if (problems.Count > 0)
        {
            throw new BelayException(ExitCodes.Usage, $"the group document would be invalid: {string.Join("; ", problems)}");
        }
        EnsureWritable(feed);

        // 2. Archives and their signatures; 3. the document. Undo on any failure.
        var written = new Written(this, feed);
        try
        {
            foreach (var (rid, source, relative) in plan)
            {
                var target = Path.Combine(feed, relative);
                written.Folder(Path.GetDirectoryName(target)!);
                if (!_files.Exists(target))
                {
                    _files.CopyAtomically(source, target);
                    written.File(target);
                }
                SignOnce(target, relative, request.Key, $"app {request.App} {request.Version} {rid}", written);
                var entry = document.Apps[request.App!].Artifacts[rid];
                _log($"wrote {relative} ({entry.Size} bytes, sha256 {entry.Sha256})");
            }
            written.Folder(Path.GetDirectoryName(groupPath)!);
            var json = document.Serialize();
            // Exactly the host's check of what is about to be signed (signature aside).
            GroupDocument.Parse(json, groupPath);
            WriteSigned(groupPath, json, request.Key, FeedLayout.GroupFile(request.Group), $"group {request.Group} sequence {document.Sequence}");
            _log($"wrote {FeedLayout.GroupFile(request.Group)} (sequence {document.Sequence}, expires {document.Expires:u}, {document.Apps.Count} app(s); {what})");
            return new DeployResult(document, written.Files);
        }
        catch
        {
            written.Undo();
            throw;
        }
    }

    /// <summary>The app's new entry and the archives to copy, from the request and the previous entry.</summary>
    private (DesiredApp App, List<(string Rid, string Source, string Relative)> Files) PlanApp(string feed, DeployRequest request, GroupDocument? previous)
    {
        var name = request.App!;
        if (!DeployNames.IsValidApp(name))
        {
            throw new BelayException(ExitCodes.Usage, $"'{name}' is not an app name ({DeployNames.AppRule})");
        }
        var old = previous?.Apps.GetValueOrDefault(name);
        var version = request.Version ?? old?.Version;
        var state = request.State ?? old?.State ?? "running";
        if (state is not ("running" or "stopped" or "absent"))
        {
            throw new BelayException(ExitCodes.Usage, $"--state '{state}' is not one of running, stopped, absent");
        }
        if (version is null)
        {
            if (state != "absent")
            {
                throw new BelayException(ExitCodes.Usage, $"app {name} is new to group {request.Group}: give its --version and --artifact RID=FILE");
            }
        }
        else if (!DeployNames.IsValidVersion(version))
        {
            throw new BelayException(ExitCodes.Usage, $"--version '{version}' is not a version ({DeployNames.VersionRule})");
        }
        if (request.RolloutPercent is < 0 or > 100)
        {
            throw new BelayException(ExitCodes.Usage, $"--rollout {request.RolloutPercent} is not a percentage from 0 to 100");
        }
        if (request.User is { } user && user.Length > 0 && !DeployNames.IsValidUser(user))
        {
            throw new BelayException(ExitCodes.Usage, $"--user '{user}' is not a user name ({DeployNames.UserRule})");
        }
        var versionChanged = version != old?.Version;
        var app = new DesiredApp
        {
            Version = version,
            State = state,
            // A new version starts at the rollout given, else everywhere; the same version keeps its rollout.
            Rollout = new Rollout { Percent = request.RolloutPercent ?? (versionChanged ? 100 : old?.Rollout.Percent ?? 100) },
            User = request.User is { } u ? (u.Length == 0 ? null : u) : old?.User,
            Env = new Dictionary<string, EnvValue>(old?.Env ?? [], StringComparer.Ordinal),
            Artifacts = versionChanged ? new(StringComparer.Ordinal) : new Dictionary<string, ArtifactEntry>(old?.Artifacts ?? [], StringComparer.Ordinal),
        };

        foreach (var key in request.Unset ?? [])
        {
            if (!app.Env.Remove(key))
            {
                throw new BelayException(ExitCodes.Usage, $"--unset {key}: app {name} has no variable {key}");
            }
        }
        foreach (var (key, value) in request.Env ?? new Dictionary<string, string>())
        {
            CheckEnvName(key);
            app.Env[key] = EnvValue.Plain(value);
        }
        if (request.Secrets is { Count: > 0 } secrets)
        {
            if (request.Recipients is not { Count: > 0 } recipients)
            {
                throw new BelayException(ExitCodes.Usage, "--secret needs --recipient age1… (the group's public key: age-keygen -y on its identity file prints it)");
            }
            foreach (var (key, plaintext) in secrets)
            {
                CheckEnvName(key);
                if (request.Env?.ContainsKey(key) == true)
                {
                    throw new BelayException(ExitCodes.Usage, $"{key} is given both as --env and as --secret");
                }
                app.Env[key] = EnvValue.Secret(Age.EncryptArmored(plaintext, recipients));
            }
        }

        var files = new List<(string, string, string)>();
        if (version is not null && (request.Artifacts is { Count: > 0 } || versionChanged))
        {
            var given = request.Artifacts ?? new Dictionary<string, string>();
            foreach (var (rid, source) in given.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                var relative = FeedLayout.AppArchive(name, version, rid);
                app.Artifacts[rid] = CheckAppArchive(feed, name, version, rid, source, relative);
                files.Add((rid, source, relative));
            }
            if (given.Count == 0)
            {
                // The same version deployed to another group: the archives already in the feed.
                foreach (var (rid, relative) in PublishedArchives(feed, name, version))
                {
                    var path = Path.Combine(feed, relative);
                    app.Artifacts[rid] = Describe(relative, path);
                }
                if (app.Artifacts.Count == 0 && state != "absent")
                {
                    throw new BelayException(ExitCodes.Usage, $"app {name} {version} has no archive in this feed yet: give --artifact RID=FILE (an archive made by belay-release app package)");
                }
            }
        }
        return (app, files);
    }

    private static void CheckEnvName(string key)
    {
        if (!DeployNames.IsValidEnvName(key))
        {
            throw new BelayException(ExitCodes.Usage, $"'{key}' is not a variable name ({DeployNames.EnvRule})");
        }
    }

    /// <summary>An archive to publish: the right extension and a belay-app.conf at its top; if the feed has one at that path already, the same bytes.</summary>
    private ArtifactEntry CheckAppArchive(string feed, string app, string version, string rid, string source, string relative)
    {
        if (rid != FeedLayout.AnyRid && !FeedLayout.IsValidRid(rid))
        {
            throw new BelayException(ExitCodes.Usage, $"'{rid}' is not a runtime identifier (like linux-x64, osx-arm64, win-x64) or '{FeedLayout.AnyRid}'");
        }
        var extension = FeedLayout.ArchiveExtension(rid);
        if (!source.EndsWith(extension, StringComparison.OrdinalIgnoreCase))
        {
            throw new BelayException(ExitCodes.Usage, $"the archive for {rid} must be a {extension} file, got {source} (make it with belay-release app package)");
        }
        if (!File.Exists(source))
        {
            throw new BelayException(ExitCodes.Usage, $"archive for {rid} not found: {source}");
        }
        AppArchive.RequireConfig(source, app, version);
        AppArchive.RequireExtractable(source);
        var target = Path.Combine(feed, relative);
        if (_files.Exists(target) && !SameContent(source, target))
        {
            throw new BelayException($"{relative} is already published with other content: an app's archive for a version is never replaced (hosts and caches may hold it); publish a new version, or pass the archive that was published ({HashFile(target)})");
        }
        return Describe(relative, source);
    }

    /// <summary>The archives the feed already has for an app's version: apps/&lt;app&gt;/&lt;version&gt;/&lt;app&gt;-&lt;version&gt;-&lt;rid&gt;.*.</summary>
    private static IEnumerable<(string Rid, string Relative)> PublishedArchives(string feed, string app, string version)
    {
        var folder = Path.Combine(feed, "apps", app, version);
        if (!Directory.Exists(folder))
        {
            yield break;
        }
        var prefix = $"{app}-{version}-";
        foreach (var file in Directory.EnumerateFiles(folder).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal))
        {
            if (!file.StartsWith(prefix, StringComparison.Ordinal) || file.EndsWith(FeedLayout.SignatureSuffix, StringComparison.Ordinal))
            {
                continue;
            }
            var rest = file[prefix.Length..];
            var rid = rest.EndsWith(".tar.gz", StringComparison.Ordinal) ? rest[..^7] : rest.EndsWith(".zip", StringComparison.Ordinal) ? rest[..^4] : null;
            if (rid is not null && (rid == FeedLayout.AnyRid || FeedLayout.IsValidRid(rid)) && FeedLayout.AppArchive(app, version, rid) == $"apps/{app}/{version}/{file}")
            {
                yield return (rid, FeedLayout.AppArchive(app, version, rid));
            }
        }
    }

    private static void CheckDeployKey(RootDocument root, MinisignSecretKey key)
    {
        if (root.Deploy is null || root.Deploy.Keys.Count == 0)
        {
            throw BelayException.Trust($"root.json (version {root.Version}) lists no deploy keys: add one with belay-release keygen --role deploy and belay-release root rotate --deploy-key deploy.pub (or init --deploy-key for a new feed)");
        }
        var deployKeys = FeedTrust.DeployKeys(root);
        if (deployKeys.Contains(key.PublicKey))
        {
            return;
        }
        var role = root.Release.Keys.Contains(key.PublicKey.ToBase64(), StringComparer.Ordinal) ? "a release key, which signs channels only"
            : root.Root.Keys.Contains(key.PublicKey.ToBase64(), StringComparer.Ordinal) ? "a root key, which signs root.json only"
            : "not a key of this feed";
        throw BelayException.Trust($"key {key.PublicKey.KeyIdHex} is {role}: group documents are signed by a deploy key ({string.Join(", ", deployKeys.Select(k => k.KeyIdHex))})");
    }

    /// <summary>The group's current document, checked against the deploy keys of this and older roots (a rotation may have changed them); no expiry: deploying is how an expired one is renewed.</summary>
    private GroupDocument? LoadGroup(string groupPath, RootDocument root, string group)
    {
        if (!_files.Exists(groupPath))
        {
            return null;
        }
        var sigPath = groupPath + FeedLayout.SignatureSuffix;
        if (!_files.Exists(sigPath))
        {
            throw BelayException.Trust($"{sigPath} not found: the group document is unsigned; restore it from a backup before deploying");
        }
        var feed = Path.GetDirectoryName(Path.GetDirectoryName(groupPath)!)!;
        var readable = new RootDocument
        {
            Product = root.Product,
            Version = root.Version,
            Expires = root.Expires,
            Root = root.Root,
            Release = root.Release,
            Deploy = new KeyRole { Threshold = 1, Keys = [.. (root.Deploy?.Keys ?? []).Concat(OlderRoleKeys(feed, root, r => r.Deploy)).Distinct(StringComparer.Ordinal)] },
        };
        try
        {
            return GroupTrust.Verify(_files.ReadAllBytes(groupPath), _files.ReadAllBytes(sigPath), readable, group, now: null, minimumSequence: 0, groupPath);
        }
        catch (GroupFeedException e)
        {
            throw BelayException.Trust($"the group's current document does not verify, so it is not re-signed: {e.Message}", e);
        }
    }
}
