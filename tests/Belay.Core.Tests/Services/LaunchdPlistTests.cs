using System.Xml;
using System.Xml.Linq;
using Belay.Core.Install;
using Belay.Core.Services;
using Belay.TestSupport;

namespace Belay.Core.Tests.Services;

public sealed class LaunchdPlistTests
{
    /// <summary>The template as the repository holds it (until Belay.Core embeds it, the only copy tests can reach).</summary>
    private static string Template() =>
        File.ReadAllText(Path.Combine(BelayBinaries.RepoRoot, "core", "Services", "Templates", "com.belay.agent.plist.template"));

    private static ServiceDefinition DaemonDefinition() => new()
    {
        CommandLine = ["/Library/Application Support/Belay/bin/belay", "run", "--config", "/Library/Application Support/Belay/etc/config.json"],
        WorkingDirectory = "/Library/Application Support/Belay/state",
        Environment = new Dictionary<string, string> { ["DOTNET_gcServer"] = "0", ["BELAY_LOG"] = "info" },
        StdoutLog = "/Library/Logs/Belay/keeper.log",
        StderrLog = "/Library/Logs/Belay/keeper.log",
        Scope = InstallScope.System,
    };

    [Fact]
    public void TheDaemonPlistIsExactlyTheSnapshot()
    {
        var plist = LaunchdPlist.Render(DaemonDefinition() with { User = "_belay" }, Template());

        Assert.Equal("""
            <?xml version="1.0" encoding="UTF-8"?>
            <!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
            <!-- The Belay keeper (system scope). Written by `belay install`, which rewrites it on
                 the next install: change the installation, not this file. What each key is for:
                 docs/service-managers.md, "launchd". -->
            <plist version="1.0">
            <dict>
                <key>Label</key>
                <string>com.belay.agent</string>
                <key>ProgramArguments</key>
                <array>
                    <string>/Library/Application Support/Belay/bin/belay</string>
                    <string>run</string>
                    <string>--config</string>
                    <string>/Library/Application Support/Belay/etc/config.json</string>
                </array>
                <key>WorkingDirectory</key>
                <string>/Library/Application Support/Belay/state</string>
                <key>UserName</key>
                <string>_belay</string>
                <key>EnvironmentVariables</key>
                <dict>
                    <key>BELAY_LOG</key>
                    <string>info</string>
                    <key>DOTNET_gcServer</key>
                    <string>0</string>
                </dict>
                <key>RunAtLoad</key>
                <true/>
                <key>KeepAlive</key>
                <true/>
                <key>ThrottleInterval</key>
                <integer>5</integer>
                <key>ExitTimeOut</key>
                <integer>30</integer>
                <key>ProcessType</key>
                <string>Standard</string>
                <key>StandardOutPath</key>
                <string>/Library/Logs/Belay/keeper.log</string>
                <key>StandardErrorPath</key>
                <string>/Library/Logs/Belay/keeper.log</string>
            </dict>
            </plist>

            """, plist);
    }

    [Fact]
    public void AnAgentThatRestartsOnlyOnFailureIsExactlyTheSnapshot()
    {
        var definition = new ServiceDefinition
        {
            CommandLine = ["/Users/ann/Library/Application Support/Belay/bin/belay", "run"],
            WorkingDirectory = "/Users/ann/Library/Application Support/Belay/state",
            Restart = RestartPolicy.OnFailure,
            RestartDelaySeconds = 10,
            StopTimeoutSeconds = 45,
            Scope = InstallScope.User,
        };

        var plist = LaunchdPlist.Render(definition, Template());

        Assert.Equal("""
            <?xml version="1.0" encoding="UTF-8"?>
            <!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
            <!-- The Belay keeper (user scope). Written by `belay install`, which rewrites it on
                 the next install: change the installation, not this file. What each key is for:
                 docs/service-managers.md, "launchd". -->
            <plist version="1.0">
            <dict>
                <key>Label</key>
                <string>com.belay.agent</string>
                <key>ProgramArguments</key>
                <array>
                    <string>/Users/ann/Library/Application Support/Belay/bin/belay</string>
                    <string>run</string>
                </array>
                <key>WorkingDirectory</key>
                <string>/Users/ann/Library/Application Support/Belay/state</string>
                <key>EnvironmentVariables</key>
                <dict>
                </dict>
                <key>RunAtLoad</key>
                <true/>
                <key>KeepAlive</key>
                <dict>
                    <key>SuccessfulExit</key>
                    <false/>
                </dict>
                <key>ThrottleInterval</key>
                <integer>10</integer>
                <key>ExitTimeOut</key>
                <integer>45</integer>
                <key>ProcessType</key>
                <string>Standard</string>
            </dict>
            </plist>

            """, plist);
    }

    [Fact]
    public void NeverRestartingSetsKeepAliveFalse()
    {
        var plist = LaunchdPlist.Render(DaemonDefinition() with { Restart = RestartPolicy.Never }, Template());
        Assert.Contains("<key>KeepAlive</key>\n    <false/>", plist, StringComparison.Ordinal);
    }

    [Fact]
    public void AnAgentWithAUserNameIsRefused()
    {
        var definition = DaemonDefinition() with { Scope = InstallScope.User, User = "ann" };
        Assert.Throws<ArgumentException>(() => LaunchdPlist.Render(definition, Template()));
    }

    [Fact]
    public void ArgumentsAndEnvironmentWithMarkupRoundTrip()
    {
        string[] arguments = ["/usr/local/belay/bin/belay", "a <b> & c", "it's \"quoted\"", "cr\rlf\n", "{{ProgramArguments}}", "ünïcødé 🚀"];
        var definition = DaemonDefinition() with
        {
            CommandLine = arguments,
            Environment = new Dictionary<string, string> { ["X"] = "<&>" },
            StdoutLog = "/tmp/a & b.log",
        };

        var document = Parse(LaunchdPlist.Render(definition, Template()));

        var dict = document.Root!.Element("dict")!;
        Assert.Equal(arguments, ValueOf(dict, "ProgramArguments").Elements("string").Select(e => e.Value));
        Assert.Equal("<&>", ValueOf(ValueOf(dict, "EnvironmentVariables"), "X").Value);
        Assert.Equal("/tmp/a & b.log", ValueOf(dict, "StandardOutPath").Value);
    }

    [Fact]
    public void CharactersXmlCannotCarryAreRefused()
    {
        Assert.Throws<ArgumentException>(() => LaunchdPlist.Render(DaemonDefinition() with { CommandLine = ["/bin/belay", "bell\a"] }, Template()));
        Assert.Throws<ArgumentException>(() => LaunchdPlist.Render(DaemonDefinition() with { CommandLine = ["relative/belay"] }, Template()));
    }

    [Fact]
    public void ThePlistPathFollowsTheScope()
    {
        Assert.Equal("/Library/LaunchDaemons/com.belay.agent.plist", LaunchdPlist.Path(InstallScope.System));
        Assert.Equal("/Users/ann/Library/LaunchAgents/com.belay.agent.plist",
            LaunchdPlist.Path(InstallScope.User, v => v == "HOME" ? "/Users/ann" : null));
        Assert.Equal("rw-r--r--", FileModeText(LaunchdPlist.FileMode));
    }

    [Fact]
    public void TheEmbeddedTemplateIsTheRepositoryFile()
    {
        var embedded = ServiceTemplate.TryLoad("com.belay.agent.plist.template");
        if (embedded is null)
        {
            Assert.Skip("SKIPPED LOUDLY: Belay.Core does not embed Services/Templates/com.belay.agent.plist.template yet; "
                + "add <EmbeddedResource Include=\"Services/Templates/*.template\" LogicalName=\"Belay.Core.Services.Templates.%(Filename)%(Extension)\" /> to core/Belay.Core.csproj.");
        }
        Assert.Equal(Template(), embedded);
    }

    [Theory]
    [InlineData(RestartPolicy.Always, true)]
    [InlineData(RestartPolicy.OnFailure, false)]
    [InlineData(RestartPolicy.Never, true)]
    public void XmllintFindsThePlistValidAgainstApplesDtd(RestartPolicy restart, bool withUser)
    {
        var definition = DaemonDefinition() with
        {
            Restart = restart,
            User = withUser ? "_belay" : null,
            CommandLine = ["/usr/local/belay/bin/belay", "a <b> & c", "\"quoted\""],
        };

        var result = Xmllint(LaunchdPlist.Render(definition, Template()));

        Assert.True(result.ExitCode == 0 && result.StdErr.Length == 0, result.ToString());
    }

    [Fact]
    public void XmllintRejectsAPlistTheDtdForbids()
    {
        // The check above is only worth something if the DTD is really consulted.
        var broken = LaunchdPlist.Render(DaemonDefinition(), Template())
            .Replace("<true/>", "<yes/>", StringComparison.Ordinal);

        var result = Xmllint(broken);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("yes", result.StdErr, StringComparison.Ordinal);
    }

    /// <summary>
    /// `xmllint --noout --nonet --valid` with a catalog that maps Apple's public and system
    /// ids to ../shared/validators/launchd/PropertyList-1.0.dtd (no network, ever).
    /// </summary>
    private static ToolResult Xmllint(string plist)
    {
        var xmllint = ExternalTool.Require("xmllint", "libxml2-utils");
        var dtd = Path.GetFullPath(Path.Combine(BelayBinaries.RepoRoot, "..", "shared", "validators", "launchd", "PropertyList-1.0.dtd"));
        if (!File.Exists(dtd))
        {
            var reason = $"SKIPPED LOUDLY: Apple's plist DTD is not at {dtd} (CI checks out shared/ beside the repository).";
            if (ExternalTool.ToolsRequired)
            {
                Assert.Fail(reason + " BELAY_REQUIRE_TOOLS=1, so this is a failure.");
            }
            Assert.Skip(reason);
        }
        using var dir = new TempDir();
        var dtdUri = new Uri(dtd).AbsoluteUri;
        var catalog = dir.Combine("catalog.xml");
        File.WriteAllText(catalog, $"""
            <?xml version="1.0"?>
            <catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">
              <public publicId="-//Apple//DTD PLIST 1.0//EN" uri="{dtdUri}"/>
              <system systemId="http://www.apple.com/DTDs/PropertyList-1.0.dtd" uri="{dtdUri}"/>
            </catalog>
            """);
        var file = dir.Combine("com.belay.agent.plist");
        File.WriteAllText(file, plist);
        return ExternalTool.Run(xmllint, ["--noout", "--nonet", "--valid", file],
            environment: new Dictionary<string, string?> { ["XML_CATALOG_FILES"] = catalog });
    }

    private static string FileModeText(UnixFileMode mode) =>
        string.Concat(new[] { ("r", UnixFileMode.UserRead), ("w", UnixFileMode.UserWrite), ("x", UnixFileMode.UserExecute),
            ("r", UnixFileMode.GroupRead), ("w", UnixFileMode.GroupWrite), ("x", UnixFileMode.GroupExecute),
            ("r", UnixFileMode.OtherRead), ("w", UnixFileMode.OtherWrite), ("x", UnixFileMode.OtherExecute) }
            .Select(p => mode.HasFlag(p.Item2) ? p.Item1 : "-"));

    private static XDocument Parse(string xml)
    {
        using var reader = XmlReader.Create(new StringReader(xml), new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore });
        return XDocument.Load(reader);
    }

    /// <summary>The element after &lt;key&gt;<paramref name="key"/>&lt;/key&gt; in a plist dict.</summary>
    private static XElement ValueOf(XElement dict, string key) =>
        dict.Elements("key").Single(k => k.Value == key).ElementsAfterSelf().First();
}
