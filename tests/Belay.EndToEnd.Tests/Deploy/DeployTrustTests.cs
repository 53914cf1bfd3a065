using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Belay.Core.Publishing;
using Belay.EndToEnd.Tests.Release;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Deploy;

/// <summary>
/// What a host running an app does with a group document or an archive it must not trust,
/// served by nginx to the shipped agent: a document signed by a release key, another group's
/// document, an expired one, an older sequence than seen, a tampered archive and a
/// path-traversal archive under a good signature. Each is refused with its reason in
/// <c>belay apps</c>, and the running app is not touched (same process, same answer); a good
/// deploy afterwards goes through.
/// </summary>
public sealed class DeployTrustTests
{
    [Fact]
    public void EveryUntrustedDocumentOrArchiveIsRefusedTheRunningAppUntouchedAndTheReasonInBelayApps()
    {
        using var host = new DeployHost();
        var ws = host.Workspace;
        host.Deploy("1.0.0");
        host.WaitForApp(a => DeployHost.On(a, "1.0.0"), "running 1.0.0");
        var pid = host.AppPid();
        var group = Path.Combine(ws.Feed, "groups", "default.json");
        var sig = group + ".minisig";
        var first = (Json: File.ReadAllBytes(group), Sig: File.ReadAllBytes(sig));
        var seen = JsonNode.Parse(first.Json)!["sequence"]!.GetValue<long>();

        // A staging copy of the feed, where belay-release writes what is then served piece by piece.
        var staging = Path.Combine(ws.Root, "staging");
        CopyFolder(ws.Feed, staging);
        var archive110 = host.Package("1.1.0");
        Ok(ReleaseWorkspace.Release("deploy", "--feed", staging, "--group", "default", "--app", DeployHost.App, "--version", "1.1.0",
            "--artifact", $"linux-x64={archive110}", "--env", $"PORT={host.Port}", "--key", ws.DeployKey));
        Ok(ReleaseWorkspace.Release("deploy", "--feed", staging, "--group", "other", "--app", DeployHost.App, "--version", "1.1.0",
            "--artifact", $"linux-x64={archive110}", "--env", $"PORT={host.Port}", "--key", ws.DeployKey));
        CopyFolder(Path.Combine(staging, "apps", DeployHost.App, "1.1.0"), Path.Combine(ws.Feed, "apps", DeployHost.App, "1.1.0"));
        var template = File.ReadAllText(Path.Combine(staging, "groups", "default.json"));

        void Untouched(string after)
        {
            var app = DeployHost.AppOf(host.Apps());
            Assert.True(DeployHost.Str(app, "running") == "1.0.0" && DeployHost.Str(app, "current") == "1.0.0", $"after {after}: {app}");
            Assert.True(pid == host.AppPid(), $"after {after} the app's process changed ({pid} → {host.AppPid()})");
            Assert.Equal((200, "hello from hello 1.0.0: -\n"), host.Get("/"));
        }

        // 1. An older sequence than seen: the agent takes a re-signed sequence 2, then is served sequence 1 again.
        Ok(ReleaseWorkspace.Release("deploy", "--feed", ws.Feed, "--group", "default", "--key", ws.DeployKey));
        WaitForGroup(host, c => c.Result != "error" && c.Sequence == seen + 1, $"sequence {seen + 1} taken");
        Serve(group, first.Json, first.Sig);
        WaitForRefusal(host, $"has sequence {seen}, lower than {seen + 1} already seen");
        Untouched("a replayed document");

        // 2. Signed by a release key (well formed, a newer sequence, naming 1.1.0).
        Put(group, System.Text.Encoding.UTF8.GetBytes(WithSequence(template, seen + 10)));
        Sign(group, ws.ReleaseKey);
        WaitForRefusal(host, "release key");
        Untouched("a document signed by a release key");

        // 3. Another group's document, validly signed, served in place of ours.
        Serve(group, File.ReadAllBytes(Path.Combine(staging, "groups", "other.json")), File.ReadAllBytes(Path.Combine(staging, "groups", "other.json.minisig")));
        WaitForRefusal(host, "is the document of group 'other', not of this host's group 'default'");
        Untouched("another group's document");

        // 4. Expired, validly signed by the deploy key.
        var expired = JsonNode.Parse(WithSequence(template, seen + 10))!;
        expired["expires"] = DateTimeOffset.UtcNow.AddHours(-1).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        Put(group, System.Text.Encoding.UTF8.GetBytes(expired.ToJsonString()));
        Sign(group, ws.DeployKey);
        WaitForRefusal(host, "expired at");
        Untouched("an expired document");

        // 5. A good document naming 1.1.0 whose archive on the feed was tampered with (same size, one byte changed).
        var served110 = Path.Combine(ws.Feed, "apps", DeployHost.App, "1.1.0", $"{DeployHost.App}-1.1.0-linux-x64.tar.gz");
        var good110 = File.ReadAllBytes(served110);
        var tampered = (byte[])good110.Clone();
        tampered[tampered.Length / 2] ^= 0x55;
        File.WriteAllBytes(served110, tampered);
        Put(group, System.Text.Encoding.UTF8.GetBytes(WithSequence(template, seen + 11)));
        Sign(group, ws.DeployKey);
        var refused = host.WaitForApp(a => LastDeploy(a, "1.1.0", "fetch") is not null, "refusing the tampered archive of 1.1.0");
        Assert.Contains("but the signed", LastDeploy(refused, "1.1.0", "fetch"), StringComparison.Ordinal);
        Assert.Equal(seen + 11, Group(host).Sequence);
        Untouched("a tampered archive");
        Assert.Equal(["1.0.0"], host.ReleaseFolders());

        // 6. A good document naming 1.2.0, whose archive (hash and size signed) reaches outside its folder.
        var hostile = Path.Combine(ws.Feed, "apps", DeployHost.App, "1.2.0", $"{DeployHost.App}-1.2.0-linux-x64.tar.gz");
        Directory.CreateDirectory(Path.GetDirectoryName(hostile)!);
        WriteTraversalArchive(hostile);
        var traversal = JsonNode.Parse(WithSequence(template, seen + 12))!;
        var entry = traversal["apps"]![DeployHost.App]!;
        entry["version"] = "1.2.0";
        var artifact = entry["artifacts"]!["linux-x64"]!;
        artifact["path"] = $"apps/{DeployHost.App}/1.2.0/{DeployHost.App}-1.2.0-linux-x64.tar.gz";
        artifact["sha256"] = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(hostile)));
        artifact["size"] = new FileInfo(hostile).Length;
        Put(group, System.Text.Encoding.UTF8.GetBytes(traversal.ToJsonString()));
        Sign(group, ws.DeployKey);
        Sign(hostile, ws.DeployKey);
        var traversed = host.WaitForApp(a => LastDeploy(a, "1.2.0", "fetch") is not null, "refusing the path-traversal archive of 1.2.0");
        Assert.Contains("'..'", LastDeploy(traversed, "1.2.0", "fetch"), StringComparison.Ordinal);
        Assert.Equal(["1.2.0"], traversed.GetProperty("bad").EnumerateArray().Select(b => b.GetString()));
        Untouched("a path-traversal archive");
        Assert.Equal(["1.0.0"], host.ReleaseFolders());
        Assert.False(File.Exists(Path.Combine(host.Prefix, "releases", "escaped")), "an entry of the archive was written outside its release");
        Assert.False(File.Exists(Path.Combine(host.Prefix, "escaped")), "an entry of the archive was written outside its release");
        var text = host.Belay("apps");
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains("1.2.0", text.StdOut, StringComparison.Ordinal);

        // The feed mended, a good deploy goes through.
        File.WriteAllBytes(served110, good110);
        host.Deploy("1.1.0");
        host.WaitForApp(a => DeployHost.On(a, "1.1.0"), "running 1.1.0");
        Assert.Equal((200, "hello from hello 1.1.0: -\n"), host.Get("/"));
    }

    private static void Ok(ToolResult result) => Assert.True(result.ExitCode == 0, result.ToString());

    private static void Sign(string file, string key) => Ok(ReleaseWorkspace.Release("sign", file, "--key", key));

    /// <summary>Replaces the document and its signature, signature first (as belay-release does).</summary>
    private static void Serve(string group, byte[] json, byte[] sig)
    {
        Put(group + ".minisig", sig);
        Put(group, json);
    }

    /// <summary>
    /// Writes a served file as the publisher does (FeedFiles, FeedFileTimes): last modified at least a
    /// whole second after the file it replaces, so nginx's ETag (mtime in seconds and size) changes with
    /// it. A document of the same size written in the second the agent took the last one would otherwise
    /// be answered 304 to its If-None-Match, and never seen.
    /// </summary>
    private static void Put(string path, byte[] content) => FeedFiles.Instance.WriteAtomically(path, content);

    private static string WithSequence(string json, long sequence)
    {
        var node = JsonNode.Parse(json)!;
        node["sequence"] = sequence;
        return node.ToJsonString();
    }

    /// <summary>The reason of the last deploy when it is a failure of <paramref name="version"/> at <paramref name="step"/>, else null.</summary>
    private static string? LastDeploy(JsonElement app, string version, string step) =>
        app.ValueKind == JsonValueKind.Object && app.GetProperty("lastDeploy") is { ValueKind: JsonValueKind.Object } d
            && d.GetProperty("version").GetString() == version && d.GetProperty("step").GetString() == step && d.GetProperty("result").GetString() == "failed"
            ? (d.TryGetProperty("reason", out var r) ? r.GetString() : null) ?? "" : null;

    private sealed record Check(string Result, string? Error, long Sequence);

    private static Check Group(DeployHost host)
    {
        var apps = host.Apps();
        if (!apps.TryGetProperty("groupCheck", out var c) || c.ValueKind != JsonValueKind.Object)
        {
            return new Check("", null, 0);
        }
        return new Check(c.GetProperty("result").GetString() ?? "", c.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null,
            c.GetProperty("sequence").GetInt64());
    }

    private static void WaitForGroup(DeployHost host, Func<Check, bool> done, string what)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var check = Group(host);
        while (!done(check))
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"group check not {what} within 60 s; last: {check}\n{host.Diagnostics()}");
            Thread.Sleep(200);
            check = Group(host);
        }
    }

    private static void WaitForRefusal(DeployHost host, string reason) =>
        WaitForGroup(host, c => c.Result == "error" && c.Error?.Contains(reason, StringComparison.Ordinal) == true, $"refusing with '{reason}'");

    /// <summary>A release whose belay-app.conf is fine and one entry of which is ../../escaped.</summary>
    private static void WriteTraversalArchive(string path)
    {
        using var file = File.Create(path);
        using (var gzip = new GZipStream(file, CompressionLevel.Optimal))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Pax))
        {
            Add(tar, "belay-app.conf", "[app]\nexec = /bin/sleep 1000\n");
            Add(tar, "../../escaped", "written outside the release\n");
        }
    }

    private static void Add(TarWriter tar, string name, string content)
    {
        var entry = new PaxTarEntry(TarEntryType.RegularFile, name)
        {
            DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content)),
            Mode = (UnixFileMode)0b110_100_100,
        };
        tar.WriteEntry(entry);
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        }
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)), overwrite: true);
        }
    }
}
