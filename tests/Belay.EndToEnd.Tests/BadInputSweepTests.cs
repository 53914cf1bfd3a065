using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Belay.EndToEnd.Tests.Release;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests;

/// <summary>
/// Bad input of every kind, to every command of the three shipped executables: each row says
/// what to run (as root or as an unprivileged user), the exit code the contract promises
/// (docs/operating.md, "Exit codes") and a piece of the message that must say what was wrong.
/// Every row also checks that no .NET stack trace, exception type or runtime resource key
/// ("UnauthorizedAccess_IODenied_Path", "net_http_...") reaches the user.
/// </summary>
public sealed partial class BadInputSweepTests(BadInputSweepTests.World world) : IClassFixture<BadInputSweepTests.World>
{
    private const int Ok = 0, Error = 1, Usage = 2, Trust = 3, Unreachable = 4, Privileges = 5;

    /// <summary>One row: executable, arguments ({placeholders} filled from <see cref="World"/>), exit code, a piece of stderr (or of stdout for exit 0).</summary>
    public sealed record Row(string Exe, string[] Args, int Exit, string Says, bool AsNobody = false);

    private static readonly Dictionary<string, Row> Rows = new(StringComparer.Ordinal)
    {
        // belay: help and version
        ["belay alone prints help"] = new("belay", [], Ok, "Usage:"),
        ["belay help prints help"] = new("belay", ["help"], Ok, "Commands:"),
        ["belay help install prints the install help"] = new("belay", ["help", "install"], Ok, "--feed"),
        ["belay help of no command"] = new("belay", ["help", "nosuch"], Usage, "no command 'nosuch'"),
        ["belay version"] = new("belay", ["version"], Ok, "(commit "),
        ["belay --version --json"] = new("belay", ["--version", "--json"], Ok, "\"rid\":"),
        ["belay --json alone"] = new("belay", ["--json"], Usage, "--version"),
        ["belay unknown command"] = new("belay", ["frobnicate"], Usage, "frobnicate"),

        // belay install: values that do not parse exit 2 and name the option
        ["install without a feed"] = new("belay", ["install", "--scope", "user", "--prefix", "{new}"], Usage, "--feed"),
        ["install --poll-interval banana"] = new("belay", ["install", "--feed", "{feed}", "--poll-interval", "banana", "--scope", "user", "--prefix", "{new}"], Usage, "--poll-interval 'banana'"),
        ["install --trial-deadline 0s"] = new("belay", ["install", "--feed", "{feed}", "--trial-deadline", "0s", "--scope", "user", "--prefix", "{new}"], Usage, "--trial-deadline '0s'"),
        ["install --wait forever"] = new("belay", ["install", "--feed", "{feed}", "--wait", "forever", "--scope", "user", "--prefix", "{new}"], Usage, "--wait 'forever'"),
        ["install --channel ../etc"] = new("belay", ["install", "--feed", "{feed}", "--channel", "../etc", "--scope", "user", "--prefix", "{new}"], Usage, "--channel '../etc'"),
        ["install --version banana"] = new("belay", ["install", "--feed", "{feed}", "--version", "banana", "--scope", "user", "--prefix", "{new}"], Usage, "--version 'banana'"),
        ["install --scope galaxy"] = new("belay", ["install", "--feed", "{feed}", "--scope", "galaxy", "--prefix", "{new}"], Usage, "--scope 'galaxy'"),
        ["install --service-manager upstart"] = new("belay", ["install", "--feed", "{feed}", "--service-manager", "upstart", "--scope", "user", "--prefix", "{new}"], Usage, "--service-manager 'upstart'"),
        ["install --feed with port 99999"] = new("belay", ["install", "--feed", "http://127.0.0.1:99999/", "--scope", "user", "--prefix", "{new}"], Usage, "port '99999' is not a port number"),
        ["install --feed gopher"] = new("belay", ["install", "--feed", "gopher://feed.example/", "--scope", "user", "--prefix", "{new}"], Usage, "scheme"),
        ["install --root-key a missing file"] = new("belay", ["install", "--feed", "{feed}", "--root-key", "{ws}/nosuch/root.pub", "--scope", "user", "--prefix", "{new}"], Usage, "no such file: {ws}/nosuch/root.pub"),
        ["install --root-key garbage"] = new("belay", ["install", "--feed", "{feed}", "--root-key", "not-a-key", "--scope", "user", "--prefix", "{new}"], Usage, "--root-key"),
        ["install --prefix a file"] = new("belay", ["install", "--feed", "{feed}", "--scope", "user", "--prefix", "{file}"], Usage, "--prefix '{file}' is a file"),
        ["install from a folder that is no feed"] = new("belay", ["install", "--feed", "{ws}", "--root-key", "{keys}/root.pub", "--scope", "user", "--prefix", "{new}", "--service-manager", "none"], Unreachable, "was not found in the feed"),
        ["install from a feed with a signed manifest that is not JSON"] = new("belay", ["install", "--feed", "{badjson}", "--root-key", "{keys}/root.pub", "--scope", "user", "--prefix", "{new}", "--service-manager", "none"], Trust, "not valid JSON"),
        ["install from a server that cuts the manifest short"] = new("belay", ["install", "--feed", "{hostile}", "--root-key", "{keys}/root.pub", "--scope", "user", "--prefix", "{new}", "--service-manager", "none"], Unreachable, "closed the connection before the whole response arrived"),
        ["install from an unreachable feed says nothing of service managers"] = new("belay", ["install", "--feed", "http://127.0.0.1:1/", "--root-key", "{keys}/root.pub", "--scope", "user", "--prefix", "{new}"], Unreachable, "cannot reach http://127.0.0.1:1/"),
        ["install system-wide as a normal user"] = new("belay", ["install", "--feed", "{feed}", "--scope", "system", "--root-key", "{keys}/root.pub"], Privileges, "sudo", AsNobody: true),
        ["install into a folder the user may not write"] = new("belay", ["install", "--feed", "{feed}", "--root-key", "{keys}/root.pub", "--scope", "user", "--prefix", "{readonly}/host", "--service-manager", "none", "--no-start"], Privileges, "{readonly}/host", AsNobody: true),

        // belay: commands on an installation
        ["status where nothing is installed"] = new("belay", ["status", "--prefix", "{new}"], Error, "belay install --feed"),
        ["status --prefix a file"] = new("belay", ["status", "--prefix", "{file}"], Usage, "is a file"),
        ["status --scope galaxy"] = new("belay", ["status", "--scope", "galaxy"], Usage, "--scope 'galaxy'"),
        ["status of an installation that is not running"] = new("belay", ["status", "--prefix", "{user}", "--scope", "user"], Error, "not running"),
        ["status with a config that is not JSON"] = new("belay", ["status", "--prefix", "{broken}", "--scope", "user"], Error, "{broken}/etc/config.json"),
        ["run --config that is not JSON"] = new("belay", ["run", "--config", "{broken}/etc/config.json"], Error, "{broken}/etc/config.json"),
        ["run --config a missing file"] = new("belay", ["run", "--config", "{ws}/nosuch.json"], Error, "{ws}/nosuch.json"),
        ["logs -n abc"] = new("belay", ["logs", "agent", "-n", "abc", "--prefix", "{user}"], Usage, "-n 'abc'"),
        ["logs -n -1"] = new("belay", ["logs", "agent", "-n", "-1", "--prefix", "{user}"], Usage, "-n '-1'"),
        ["logs of no such program"] = new("belay", ["logs", "nosuch", "--prefix", "{user}", "--scope", "user"], Error, "no program 'nosuch'"),
        ["logs of a name that cannot be a program"] = new("belay", ["logs", "../etc", "--prefix", "{user}", "--scope", "user"], Usage, "not a program name"),
        ["stop without a name"] = new("belay", ["stop", "--prefix", "{user}"], Usage, "Required argument missing for command: 'stop'"),
        ["stop a name that cannot be a program"] = new("belay", ["stop", "a/b", "--prefix", "{user}", "--scope", "user"], Usage, "not a program name"),
        ["stop all while the agent is down"] = new("belay", ["stop", "all", "--prefix", "{user}", "--scope", "user"], Error, "cannot reach the agent"),
        ["reload while the agent is down"] = new("belay", ["reload", "--prefix", "{user}", "--scope", "user"], Error, "cannot reach the agent"),
        ["update --version banana"] = new("belay", ["update", "--version", "banana", "--prefix", "{user}"], Usage, "--version 'banana'"),
        ["update --wait forever"] = new("belay", ["update", "--wait", "forever", "--prefix", "{user}", "--scope", "user"], Usage, "--wait 'forever'"),
        ["update --json without --check"] = new("belay", ["update", "--json", "--prefix", "{user}", "--scope", "user"], Usage, "--json goes with --check"),
        ["rollback with nothing to roll back to"] = new("belay", ["rollback", "--prefix", "{user}", "--scope", "user"], Error, "nothing to roll back to"),
        ["service print --service-manager upstart"] = new("belay", ["service", "print", "--service-manager", "upstart"], Usage, "--service-manager 'upstart'"),
        ["service print with a control character in the prefix"] = new("belay", ["service", "print", "--service-manager", "launchd", "--scope", "user", "--prefix", "/tmp/a\u0001b"], Usage, "control character"),
        ["verify a missing file"] = new("belay", ["verify", "{ws}/nosuch", "--public-key", "{keys}/root.pub"], Error, "{ws}/nosuch"),
        ["verify with a missing key file"] = new("belay", ["verify", "{file}", "--public-key", "{ws}/nosuch.pub"], Usage, "--public-key: no such file"),
        ["msi configure off Windows"] = new("belay", ["msi", "configure", "--version", "1.0.0"], Usage, "Windows"),
        ["completion for an unknown shell"] = new("belay", ["completion", "tcsh"], Usage, "'tcsh'"),
        ["uninstall --scope galaxy"] = new("belay", ["uninstall", "--scope", "galaxy"], Usage, "--scope 'galaxy'"),

        // belay as a normal user on a root-owned (system) installation: exit 5, run it with sudo
        ["status of a root-owned installation as a normal user"] = new("belay", ["status", "--scope", "system", "--prefix", "{system}"], Privileges, "sudo", AsNobody: true),
        ["status --json of a root-owned installation as a normal user"] = new("belay", ["status", "--json", "--scope", "system", "--prefix", "{system}"], Privileges, "sudo", AsNobody: true),
        ["doctor of a root-owned installation as a normal user"] = new("belay", ["doctor", "--scope", "system", "--prefix", "{system}"], Privileges, "sudo", AsNobody: true),
        ["logs of a root-owned installation as a normal user"] = new("belay", ["logs", "keeper", "--scope", "system", "--prefix", "{system}"], Privileges, "sudo", AsNobody: true),
        ["update --check of a root-owned installation as a normal user"] = new("belay", ["update", "--check", "--scope", "system", "--prefix", "{system}"], Privileges, "sudo", AsNobody: true),
        ["rollback of a root-owned installation as a normal user"] = new("belay", ["rollback", "--scope", "system", "--prefix", "{system}"], Privileges, "sudo", AsNobody: true),
        ["stop all of a root-owned installation as a normal user"] = new("belay", ["stop", "all", "--scope", "system", "--prefix", "{system}"], Privileges, "sudo", AsNobody: true),
        ["service status of a root-owned installation as a normal user"] = new("belay", ["service", "status", "--scope", "system", "--prefix", "{system}"], Privileges, "sudo", AsNobody: true),
        ["uninstall of a root-owned installation as a normal user"] = new("belay", ["uninstall", "--scope", "system", "--prefix", "{system}"], Privileges, "sudo", AsNobody: true),

        // belay-agent
        ["belay-agent alone prints help"] = new("belay-agent", [], Ok, "Usage:"),
        ["belay-agent version"] = new("belay-agent", ["version", "--json"], Ok, "\"program\": \"belay-agent\""),
        ["belay-agent run without --config"] = new("belay-agent", ["run"], Usage, "--config"),
        ["belay-agent run --config a missing file"] = new("belay-agent", ["run", "--config", "{ws}/nosuch.json"], Error, "{ws}/nosuch.json"),
        ["belay-agent run --config that is not JSON"] = new("belay-agent", ["run", "--config", "{broken}/etc/config.json"], Error, "{broken}/etc/config.json"),
        ["belay-agent run --config of a root-owned installation as a normal user"] = new("belay-agent", ["run", "--config", "{system}/etc/config.json"], Privileges, "sudo", AsNobody: true),

        // belay-release
        ["belay-release alone prints help"] = new("belay-release", [], Ok, "Usage:"),
        ["belay-release help publish"] = new("belay-release", ["help", "publish"], Ok, "--artifact"),
        ["keygen without --out"] = new("belay-release", ["keygen"], Usage, "--out"),
        ["keygen --out a file"] = new("belay-release", ["keygen", "--out", "{file}"], Usage, "is a file"),
        ["keygen over existing keys"] = new("belay-release", ["keygen", "--out", "{keys}"], Error, "refusing to overwrite"),
        ["keygen --out a folder the user may not write"] = new("belay-release", ["keygen", "--out", "{readonly}/keys"], Privileges, "{readonly}/keys", AsNobody: true),
        ["init with a missing root key"] = new("belay-release", ["init", "--feed", "{new}", "--root-key", "{ws}/nosuch.key", "--release-key", "{keys}/release.pub"], Usage, "{ws}/nosuch.key"),
        ["init --expires banana"] = new("belay-release", ["init", "--feed", "{new}", "--root-key", "{keys}/root.key", "--release-key", "{keys}/release.pub", "--expires", "banana"], Usage, "--expires 'banana'"),
        ["init --release-key garbage"] = new("belay-release", ["init", "--feed", "{new}", "--root-key", "{keys}/root.key", "--release-key", "garbage"], Usage, "--release-key"),
        ["publish --version banana"] = new("belay-release", ["publish", "--feed", "{feed}", "--version", "banana", "--artifact", "linux-x64={archive}", "--key", "{keys}/release.key"], Usage, "--version 'banana'"),
        ["publish --rollout 101"] = new("belay-release", ["publish", "--feed", "{feed}", "--version", "9.0.0", "--artifact", "linux-x64={archive}", "--key", "{keys}/release.key", "--rollout", "101"], Usage, "--rollout '101'"),
        ["publish --rollout abc"] = new("belay-release", ["publish", "--feed", "{feed}", "--version", "9.0.0", "--artifact", "linux-x64={archive}", "--key", "{keys}/release.key", "--rollout", "abc"], Usage, "--rollout 'abc'"),
        ["publish --channel ../x"] = new("belay-release", ["publish", "--feed", "{feed}", "--channel", "../x", "--version", "9.0.0", "--artifact", "linux-x64={archive}", "--key", "{keys}/release.key"], Usage, "--channel '../x'"),
        ["publish --artifact without a RID"] = new("belay-release", ["publish", "--feed", "{feed}", "--version", "9.0.0", "--artifact", "{archive}", "--key", "{keys}/release.key"], Usage, "RID=PATH"),
        ["publish with a missing key"] = new("belay-release", ["publish", "--feed", "{feed}", "--version", "9.0.0", "--artifact", "linux-x64={archive}", "--key", "{ws}/nosuch.key"], Usage, "{ws}/nosuch.key"),
        ["publish into a folder that is no feed"] = new("belay-release", ["publish", "--feed", "{new}", "--version", "9.0.0", "--artifact", "linux-x64={archive}", "--key", "{keys}/release.key"], Error, "belay-release init"),
        ["publish with a key the user may not read"] = new("belay-release", ["publish", "--feed", "{feed}", "--version", "9.0.0", "--artifact", "linux-x64={archive}", "--key", "{keys}/release.key"], Privileges, "{keys}/release.key", AsNobody: true),
        ["refresh --expires 0s"] = new("belay-release", ["refresh", "--feed", "{feed}", "--key", "{keys}/release.key", "--expires", "0s"], Usage, "--expires '0s'"),
        ["yank a version that is not published"] = new("belay-release", ["yank", "7.7.7", "--feed", "{feed}", "--key", "{keys}/release.key"], Error, "version 7.7.7 is not on channel stable"),
        ["yank banana"] = new("belay-release", ["yank", "banana", "--feed", "{feed}", "--key", "{keys}/release.key"], Usage, "banana"),
        ["rollout without --percent"] = new("belay-release", ["rollout", "1.0.0", "--feed", "{feed}", "--key", "{keys}/release.key"], Usage, "--percent"),
        ["rollout --percent 101"] = new("belay-release", ["rollout", "1.0.0", "--percent", "101", "--feed", "{feed}", "--key", "{keys}/release.key"], Usage, "--percent '101'"),
        ["list a folder that is no feed"] = new("belay-release", ["list", "--feed", "{new}"], Error, "belay-release init"),
        ["sign a missing file"] = new("belay-release", ["sign", "{ws}/nosuch", "--key", "{keys}/release.key"], Error, "{ws}/nosuch"),
        ["verify-feed with port 99999"] = new("belay-release", ["verify-feed", "--feed", "http://127.0.0.1:99999/", "--root-key", "{keys}/root.pub"], Usage, "port '99999'"),
        ["verify-feed --min-sequence abc"] = new("belay-release", ["verify-feed", "--feed", "{feed}", "--root-key", "{keys}/root.pub", "--min-sequence", "abc"], Usage, "--min-sequence 'abc'"),
        ["verify-feed of an unreachable feed"] = new("belay-release", ["verify-feed", "--feed", "http://127.0.0.1:1/", "--root-key", "{keys}/root.pub"], Unreachable, "127.0.0.1:1"),
        ["verify-feed of a manifest that is not JSON"] = new("belay-release", ["verify-feed", "--feed", "{badjson}", "--root-key", "{keys}/root.pub"], Trust, "not valid JSON"),
        ["serve --listen banana"] = new("belay-release", ["serve", "--feed", "{feed}", "--listen", "banana"], Usage, "--listen 'banana'"),
        ["serve on a port in use"] = new("belay-release", ["serve", "--feed", "{feed}", "--listen", "127.0.0.1:{busyport}"], Error, "another program already listens there"),
        ["serve on port 80 as a normal user"] = new("belay-release", ["serve", "--feed", "{feed}", "--listen", "127.0.0.1:80"], Privileges, "below 1024", AsNobody: true),
        ["package --rid bogus"] = new("belay-release", ["package", "--rid", "bogus", "--version", "1.0.0", "--input", "{ws}", "--out", "{new}"], Usage, "--rid 'bogus'"),
        ["package --version banana"] = new("belay-release", ["package", "--rid", "linux-x64", "--version", "banana", "--input", "{ws}", "--out", "{new}"], Usage, "--version 'banana'"),
        ["root rotate --expires banana"] = new("belay-release", ["root", "rotate", "--feed", "{feed}", "--sign", "{keys}/root.key", "--expires", "banana"], Usage, "--expires 'banana'"),
    };

    public static TheoryData<string> Names() => [.. Rows.Keys];

    [Theory]
    [MemberData(nameof(Names))]
    public void EachBadInputGetsOneClearLineAndItsExitCode(string name)
    {
        var row = Rows[name];
        var args = row.Args.Select(world.Fill).ToArray();
        var exe = Path.Combine(BelayBinaries.Directory, row.Exe);
        var result = row.AsNobody ? OtherUser.Run(exe, args, TimeSpan.FromMinutes(1)) : ExternalTool.Run(exe, args, timeout: TimeSpan.FromMinutes(1));
        var all = result.StdOut + result.StdErr;
        Assert.True(result.ExitCode == row.Exit, $"{name}: expected exit {row.Exit}\n{result}");
        // Commands that report on stdout (verify-feed lists each check) may say it there.
        Assert.Contains(world.Fill(row.Says), row.Exit == Ok ? result.StdOut : all, StringComparison.Ordinal);
        Assert.DoesNotMatch(StackFrame(), all);
        Assert.DoesNotContain("Exception", all, StringComparison.Ordinal);
        Assert.DoesNotContain("internal error", all, StringComparison.Ordinal);
        Assert.DoesNotMatch(ResourceKey(), all);
        if (row.Exit != Ok)
        {
            // One message, not a wall: the error itself (and a "Run ... --help" hint for usage errors).
            Assert.True(result.StdErr.TrimEnd().Split('\n').Length <= 3, $"{name}: more than 3 lines on stderr\n{result}");
        }
        if (name.Contains("says nothing of service managers", StringComparison.Ordinal))
        {
            Assert.DoesNotContain("service manager", all, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void UpdateWithAWaitThatDoesNotParseChangesNothing()
    {
        var state = Path.Combine(world.User, "var", "state.json");
        var before = File.ReadAllText(state);
        var result = BelayBinaries.Run(BelayBinaries.Belay, "update", "--wait", "forever", "--prefix", world.User, "--scope", "user");
        Assert.Equal(Usage, result.ExitCode);
        Assert.Equal(before, File.ReadAllText(state));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(world.User, "var", "downloads")));
    }

    [Fact]
    public void PrefixHelpSaysInstallOnlyWhereSomethingIsInstalled()
    {
        var install = BelayBinaries.Run(BelayBinaries.Belay, "install", "--help");
        Assert.Contains("Install everything under this folder", install.StdOut, StringComparison.Ordinal);
        foreach (var command in new[] { "status", "doctor", "logs", "update", "rollback", "uninstall", "stop", "reload" })
        {
            var help = BelayBinaries.Run(BelayBinaries.Belay, command, "--help");
            Assert.True(help.ExitCode == 0, help.ToString());
            Assert.DoesNotContain("Install everything", help.StdOut, StringComparison.Ordinal);
            Assert.Contains("installation made with install --prefix", help.StdOut, StringComparison.Ordinal);
        }
    }

    /// <summary>A .NET stack frame as NativeAOT or the JIT prints it.</summary>
    [GeneratedRegex(@"^\s+at \S|BaseAddress\>\+0x|End of stack trace", RegexOptions.Multiline)]
    private static partial Regex StackFrame();

    /// <summary>A runtime resource key in place of its text (NativeAOT with UseSystemResourceKeys): IO_FileExists_Name, net_http_..., ExpectedStartOfValueNotFound.</summary>
    [GeneratedRegex(@"\b(?:(?=[A-Za-z_]*[a-z])(?=[A-Za-z_]*[A-Z])[A-Za-z]+_[A-Za-z_]*[A-Za-z]|net_[a-z_]+|[A-Z][a-z]+(?:[A-Z][a-z]+){3,})\b")]
    private static partial Regex ResourceKey();

    /// <summary>
    /// What the rows run against: keys and a feed with one release, an installation in user
    /// scope and one in system scope (root-owned, readable by nobody else), both laid out with
    /// --no-start; a feed whose signed manifest is not JSON; a server that cuts the manifest
    /// short; a port in use; a folder an unprivileged user cannot write.
    /// </summary>
    public sealed class World : IAsyncDisposable
    {
        private readonly ReleaseWorkspace _ws = new();
        private readonly TcpListener _busy = new(IPAddress.Loopback, 0);
        private readonly HostileFeedServer _hostile;

        public World()
        {
            Assert.Equal(0, _ws.Init().ExitCode);
            Archive = _ws.Archive("1.0.0");
            Assert.Equal(0, ReleaseWorkspace.Release("publish", "--feed", _ws.Feed, "--version", "1.0.0", "--artifact", $"linux-x64={Archive}", "--key", _ws.ReleaseKey).ExitCode);
            User = Path.Combine(_ws.Root, "user");
            System = Path.Combine(_ws.Root, "system");
            Install(User, "user");
            Install(System, "system");
            Broken = Path.Combine(_ws.Root, "broken");
            Directory.CreateDirectory(Path.Combine(Broken, "etc"));
            File.WriteAllText(Path.Combine(Broken, "etc", "config.json"), "\0{ not json");
            File.WriteAllText(Path.Combine(_ws.Root, "a-file"), "not a folder\n");

            // A feed whose channel manifest is validly signed but is not JSON.
            BadJson = Path.Combine(_ws.Root, "badjson");
            CopyTree(_ws.Feed, BadJson);
            var manifest = Path.Combine(BadJson, "channels", "stable.json");
            File.WriteAllText(manifest, "{\"schema\": 1, \"releases\": [oops");
            File.Delete(manifest + ".minisig");
            Assert.Equal(0, ReleaseWorkspace.Release("sign", manifest, "--key", _ws.ReleaseKey).ExitCode);

            _hostile = new HostileFeedServer(_ws.Feed) { Behaviour = Hostility.ShortBody, Targets = p => p.StartsWith("channels/", StringComparison.Ordinal) };
            _busy.Start();

            // An unprivileged user may reach the system installation and the keys, not read config.json or the secret keys,
            // and not write into the read-only folder.
            ReadOnly = Path.Combine(_ws.Root, "readonly");
            Directory.CreateDirectory(ReadOnly);
            if (OtherUser.TestsRunAsRoot)
            {
                OtherUser.OpenPath(_ws.Root, Path.Combine(System, "etc"));
                OtherUser.OpenPath(_ws.Root, ReadOnly);
                OtherUser.OpenPath(_ws.Root, _ws.Keys);
                OtherUser.OpenPath(_ws.Root, _ws.Feed);
                File.SetUnixFileMode(Path.Combine(_ws.Root, "a-file"), (UnixFileMode)0b110_100_100);
                foreach (var pub in Directory.GetFiles(_ws.Keys, "*.pub"))
                {
                    File.SetUnixFileMode(pub, (UnixFileMode)0b110_100_100);
                }
            }
        }

        public string User { get; }
        public string System { get; }
        public string Broken { get; }
        public string BadJson { get; }
        public string ReadOnly { get; }
        public string Archive { get; }

        public string Fill(string text) => text
            .Replace("{feed}", _ws.Feed, StringComparison.Ordinal)
            .Replace("{keys}", _ws.Keys, StringComparison.Ordinal)
            .Replace("{ws}", _ws.Root, StringComparison.Ordinal)
            .Replace("{new}", Path.Combine(_ws.Root, "new-" + Guid.NewGuid().ToString("N")[..8]), StringComparison.Ordinal)
            .Replace("{file}", Path.Combine(_ws.Root, "a-file"), StringComparison.Ordinal)
            .Replace("{user}", User, StringComparison.Ordinal)
            .Replace("{system}", System, StringComparison.Ordinal)
            .Replace("{broken}", Broken, StringComparison.Ordinal)
            .Replace("{badjson}", BadJson, StringComparison.Ordinal)
            .Replace("{readonly}", ReadOnly, StringComparison.Ordinal)
            .Replace("{archive}", Archive, StringComparison.Ordinal)
            .Replace("{hostile}", _hostile.Url, StringComparison.Ordinal)
            .Replace("{busyport}", ((IPEndPoint)_busy.LocalEndpoint).Port.ToString(global::System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);

        private void Install(string prefix, string scope)
        {
            var result = BelayBinaries.Run(BelayBinaries.Belay, "install", "--feed", _ws.Feed, "--root-key", _ws.RootPub, "--scope", scope, "--prefix", prefix,
                "--service-manager", "none", "--no-start", "--link-dir", "none");
            Assert.True(result.ExitCode == 0, result.ToString());
        }

        private static void CopyTree(string from, string to)
        {
            foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories).Prepend(from))
            {
                Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
            }
            foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            {
                File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
            }
        }

        public async ValueTask DisposeAsync()
        {
            _busy.Stop();
            _busy.Dispose();
            await _hostile.DisposeAsync();
            _ws.Dispose();
        }
    }
}
