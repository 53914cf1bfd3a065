using System.Xml;
using Belay.Core.Install;
using Belay.Core.Services;
using Belay.TestSupport;

namespace Belay.Core.Tests.Services;

public sealed class SmfManifestTests
{
    private static readonly ServiceDefinition Fixed = new()
    {
        CommandLine = ["/opt/belay/bin/belay", "run", "--config", "/etc/opt/belay/config.json"],
        WorkingDirectory = "/var/opt/belay",
        Environment = new Dictionary<string, string> { ["LANG"] = "C.UTF-8", ["BELAY_LOG_LEVEL"] = "info" },
        StopTimeoutSeconds = 45,
        StdoutLog = "/var/log/opt/belay/keeper.log",
        StderrLog = "/var/log/opt/belay/keeper.log",
    };

    private static string Render(ServiceDefinition definition) => SmfManifest.Render(definition, SmfTestFiles.Template());

    [Fact]
    public void TheManifestForAFixedDefinitionIsExactlyTheSnapshot()
    {
        Assert.Equal(Snapshot, Render(Fixed));
    }

    [Fact]
    public void TheManifestIsValidAgainstTheSmfDtd()
    {
        AssertValid(Render(Fixed));
    }

    [Fact]
    public void AManifestFullOfCharactersToEscapeIsStillValid()
    {
        AssertValid(Render(Awkward));
    }

    [Fact]
    public void AManifestWithoutEnvironmentOrLogsIsValidAndHasNoMethodEnvironment()
    {
        var manifest = Render(new ServiceDefinition { CommandLine = ["/opt/belay/bin/belay", "run"] });
        Assert.DoesNotContain("method_environment", manifest, StringComparison.Ordinal);
        Assert.Contains("exec=\"'/opt/belay/bin/belay' 'run'\"", manifest, StringComparison.Ordinal);
        AssertValid(manifest);
    }

    private static readonly ServiceDefinition Awkward = new()
    {
        CommandLine = ["/opt/be lay/bin/belay", "run", "--name", "a<b & c>d \"quoted\" 'single' 100% $HOME `x`", "two\nlines"],
        WorkingDirectory = "/var/opt/be lay & co",
        User = "belay",
        Environment = new Dictionary<string, string>
        {
            ["GREETING"] = "say \"hi\" & <wave> it's 50% off",
            ["TABBED"] = "a\tb",
        },
        Description = "Belay <keeper> & \"friends\"",
        StdoutLog = "/var/log/be lay/out's.log",
        StderrLog = "/var/log/be lay/err.log",
    };

    [Fact]
    public void EveryValueReadsBackFromTheXmlExactlyAsGiven()
    {
        var doc = Parse(Render(Awkward));

        Assert.Equal("/var/opt/be lay & co", Attribute(doc, "//method_context", "working_directory"));
        Assert.Equal("belay", Attribute(doc, "//method_credential", "user"));
        Assert.Equal("say \"hi\" & <wave> it's 50% off", Attribute(doc, "//envvar[@name='GREETING']", "value"));
        Assert.Equal("a\tb", Attribute(doc, "//envvar[@name='TABBED']", "value"));
        Assert.Equal("Belay <keeper> & \"friends\"", doc.SelectSingleNode("//template/description/loctext")!.InnerText);
        Assert.Equal(
            "'/opt/be lay/bin/belay' 'run' '--name' 'a<b & c>d \"quoted\" '\\''single'\\'' 100%% $HOME `x`' 'two\nlines'"
            + " >>'/var/log/be lay/out'\\''s.log' 2>>'/var/log/be lay/err.log'",
            Attribute(doc, "//exec_method[@name='start']", "exec"));
    }

    [Fact]
    public void TheShellGivesTheKeeperExactlyItsArguments()
    {
        // What svc.startd does with the exec string: expand %-tokens (here only %%), then
        // run /bin/sh -c "exec <string>". printf prints each argument on its own line.
        var sh = ExternalTool.Require("sh", "dash");
        var printf = ExternalTool.Require("printf", "coreutils");
        string[] arguments = ["a<b & c>d \"quoted\" 'single' 100% $HOME `x` \\n", "", " spaced ", "*"];
        var definition = new ServiceDefinition { CommandLine = [printf, "[%s]\\n", .. arguments] };
        var exec = Attribute(Parse(Render(definition)), "//exec_method[@name='start']", "exec")
            .Replace("%%", "%", StringComparison.Ordinal);

        var result = ExternalTool.Run(sh, ["-c", "exec " + exec]);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(string.Concat(arguments.Select(a => $"[{a}]\n")), result.StdOut.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void TheKeeperRunsAsRootForASystemInstallAndAsTheGivenUserOtherwise()
    {
        Assert.Equal("root", Attribute(Parse(Render(Fixed)), "//method_credential", "user"));
        Assert.Equal("belay", Attribute(Parse(Render(Fixed with { User = "belay" })), "//method_credential", "user"));
        Assert.Equal("ann", Attribute(Parse(Render(Fixed with { User = "ann", Scope = InstallScope.User })), "//method_credential", "user"));
    }

    [Fact]
    public void WhatSmfCannotExpressIsRefused()
    {
        Assert.Throws<ArgumentException>(() => Render(Fixed with { Scope = InstallScope.User }));
        Assert.Throws<ArgumentException>(() => Render(Fixed with { Restart = RestartPolicy.Never }));
        Assert.Throws<ArgumentException>(() => Render(Fixed with { CommandLine = [] }));
        Assert.Throws<ArgumentException>(() => Render(Fixed with { StopTimeoutSeconds = 0 }));
        Assert.Throws<ArgumentException>(() => Render(Fixed with { CommandLine = ["/bin/belay", "nul\0"] }));
        Assert.Throws<ArgumentException>(() => Render(Fixed with { Environment = new Dictionary<string, string> { ["A=B"] = "x" } }));
    }

    [Fact]
    public void APlaceholderInAValueIsNotFilledIn()
    {
        var manifest = Render(Fixed with { Description = "{{User}}", WorkingDirectory = "/var/{{Description}}" });
        var doc = Parse(manifest);
        Assert.Equal("{{User}}", doc.SelectSingleNode("//template/description/loctext")!.InnerText);
        Assert.Equal("/var/{{Description}}", Attribute(doc, "//method_context", "working_directory"));
    }

    [Fact]
    public void TheEmbeddedTemplateIsTheOneInTheRepository()
    {
        if (SmfManifest.EmbeddedTemplate is null)
        {
            var reason = $"SKIPPED LOUDLY: core/Belay.Core.csproj does not embed Services/Templates/belay.smf.xml.template as {SmfManifest.TemplateResourceName}, so SmfManifest.Render(definition) cannot work yet.";
            if (ExternalTool.ToolsRequired)
            {
                Assert.Fail(reason + " BELAY_REQUIRE_TOOLS=1, so this is a failure.");
            }
            Assert.Skip(reason);
        }
        Assert.Equal(SmfTestFiles.Template(), SmfManifest.EmbeddedTemplate);
        Assert.Equal(Render(Fixed), SmfManifest.Render(Fixed));
    }

    [Fact]
    public void TheFmriPathAndTemplateAgree()
    {
        Assert.Equal("svc:/application/belay/agent:default", SmfManifest.Fmri);
        Assert.Equal("svc:/application/belay/agent", SmfManifest.ServiceFmri);
        Assert.Equal("/var/svc/manifest/application/belay.xml", SmfManifest.Path);
        var doc = Parse(Render(Fixed));
        Assert.Equal(SmfManifest.Fmri, "svc:/" + Attribute(doc, "//service", "name") + ":" + Attribute(doc, "//instance", "name"));
    }

    private static XmlDocument Parse(string manifest)
    {
        var doc = new XmlDocument { XmlResolver = null };
        using var reader = XmlReader.Create(new StringReader(manifest), new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore, XmlResolver = null });
        doc.Load(reader);
        return doc;
    }

    private static string Attribute(XmlDocument doc, string xpath, string name) =>
        (doc.SelectSingleNode(xpath) as XmlElement ?? throw new InvalidOperationException($"no {xpath}")).GetAttribute(name);

    private static void AssertValid(string manifest)
    {
        var dtd = SmfTestFiles.RequireDtd();
        var xmllint = ExternalTool.Require("xmllint", "libxml2-utils");
        var xmlcatalog = ExternalTool.Require("xmlcatalog", "libxml2-utils");
        using var dir = new TempDir("belay-smf-");
        var catalog = dir.Combine("catalog.xml");
        var file = dir.Combine("belay.xml");
        File.WriteAllText(file, manifest);
        Run(xmlcatalog, ["--noout", "--create", catalog]);
        Run(xmlcatalog, ["--noout", "--add", "system", "/usr/share/lib/xml/dtd/service_bundle.dtd.1", new Uri(dtd).AbsoluteUri, catalog]);

        var result = ExternalTool.Run(xmllint, ["--noout", "--nonet", "--valid", file],
            environment: new Dictionary<string, string?> { ["XML_CATALOG_FILES"] = catalog });

        Assert.True(result.ExitCode == 0 && result.StdErr.Length == 0, result.ToString() + "\n--- manifest\n" + manifest);
    }

    private static void Run(string tool, string[] args)
    {
        var result = ExternalTool.Run(tool, args);
        Assert.True(result.ExitCode == 0, result.ToString());
    }

    private const string Snapshot = """
        <?xml version="1.0" encoding="UTF-8"?>
        <!DOCTYPE service_bundle SYSTEM "/usr/share/lib/xml/dtd/service_bundle.dtd.1">
        <!--
          The Belay keeper as an SMF service, written by belay install and removed by
          belay uninstall; belay service print shows what would be written.
        -->
        <service_bundle type="manifest" name="belay">
          <service name="application/belay/agent" type="service" version="1">
            <single_instance/>
            <dependency name="network" grouping="require_all" restart_on="none" type="service">
              <service_fmri value="svc:/milestone/network:default"/>
            </dependency>
            <dependency name="filesystem-local" grouping="require_all" restart_on="none" type="service">
              <service_fmri value="svc:/system/filesystem/local"/>
            </dependency>
            <method_context working_directory="/var/opt/belay">
              <method_credential user="root"/>
              <method_environment>
                <envvar name="BELAY_LOG_LEVEL" value="info"/>
                <envvar name="LANG" value="C.UTF-8"/>
              </method_environment>
            </method_context>
            <exec_method type="method" name="start" exec="'/opt/belay/bin/belay' 'run' '--config' '/etc/opt/belay/config.json' >>'/var/log/opt/belay/keeper.log' 2>&amp;1" timeout_seconds="60"/>
            <exec_method type="method" name="stop" exec=":kill" timeout_seconds="45"/>
            <property_group name="startd" type="framework">
              <propval name="duration" type="astring" value="child"/>
              <propval name="ignore_error" type="astring" value="core,signal"/>
            </property_group>
            <instance name="default" enabled="false"/>
            <stability value="Unstable"/>
            <template>
              <common_name>
                <loctext xml:lang="C">Belay keeper</loctext>
              </common_name>
              <description>
                <loctext xml:lang="C">Belay keeper: runs, updates and rolls back the Belay agent</loctext>
              </description>
              <documentation>
                <manpage title="svcs" section="1"/>
                <manpage title="svcadm" section="8"/>
              </documentation>
            </template>
          </service>
        </service_bundle>

        """;
}
