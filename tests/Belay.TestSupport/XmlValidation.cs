using Xunit;

namespace Belay.TestSupport;

/// <summary>
/// xmllint --valid against the DTDs in ../shared/validators (illumos' SMF service bundle, Apple's
/// property list), mapped by a private catalog so that nothing is fetched from the network.
/// A missing DTD or xmllint skips loudly (fails with BELAY_REQUIRE_TOOLS=1).
/// </summary>
public static class XmlValidation
{
    public static ToolResult SmfManifest(string manifest) =>
        Validate(manifest, "belay.xml", "smf/service_bundle.dtd.1", dtd => $"""<system systemId="/usr/share/lib/xml/dtd/service_bundle.dtd.1" uri="{dtd}"/>""");

    public static ToolResult Plist(string plist) =>
        Validate(plist, "com.belay.agent.plist", "launchd/PropertyList-1.0.dtd", dtd => $"""
            <public publicId="-//Apple//DTD PLIST 1.0//EN" uri="{dtd}"/>
              <system systemId="http://www.apple.com/DTDs/PropertyList-1.0.dtd" uri="{dtd}"/>
            """);

    private static ToolResult Validate(string content, string fileName, string dtdPath, Func<string, string> entries)
    {
        var xmllint = ExternalTool.Require("xmllint", "libxml2-utils");
        var dtd = Path.GetFullPath(Path.Combine(BelayBinaries.RepoRoot, "..", "shared", "validators", dtdPath));
        if (!File.Exists(dtd))
        {
            var reason = $"SKIPPED LOUDLY: the DTD is not at {dtd} (CI checks out shared/ beside the repository).";
            if (ExternalTool.ToolsRequired)
            {
                Assert.Fail(reason + " BELAY_REQUIRE_TOOLS=1, so this is a failure.");
            }
            Assert.Skip(reason);
        }
        using var dir = new TempDir("belay-xml-");
        var catalog = dir.Combine("catalog.xml");
        File.WriteAllText(catalog, $"""
            <?xml version="1.0"?>
            <catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">
              {entries(new Uri(dtd).AbsoluteUri)}
            </catalog>
            """);
        var file = dir.Combine(fileName);
        File.WriteAllText(file, content);
        return ExternalTool.Run(xmllint, ["--noout", "--nonet", "--valid", file],
            environment: new Dictionary<string, string?> { ["XML_CATALOG_FILES"] = catalog });
    }
}
