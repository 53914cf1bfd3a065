using Belay.TestSupport;

namespace Belay.Core.Tests.Services;

/// <summary>The SMF template and DTD, read from the repository and the shared validators.</summary>
internal static class SmfTestFiles
{
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Belay.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new DirectoryNotFoundException("no Belay.slnx above " + AppContext.BaseDirectory);
    }

    public static string TemplatePath() =>
        Path.Combine(RepoRoot(), "core", "Services", "Templates", "belay.smf.xml.template");

    public static string Template() => File.ReadAllText(TemplatePath());

    /// <summary>illumos' service_bundle DTD; skips the test loudly (fails it in CI) when the validators are not checked out.</summary>
    public static string RequireDtd()
    {
        var dtd = Path.GetFullPath(Path.Combine(RepoRoot(), "..", "shared", "validators", "smf", "service_bundle.dtd.1"));
        if (File.Exists(dtd))
        {
            return dtd;
        }
        var reason = $"SKIPPED LOUDLY: the SMF DTD is not at {dtd}; check out the shared validators next to the repository.";
        if (ExternalTool.ToolsRequired)
        {
            Assert.Fail(reason + " BELAY_REQUIRE_TOOLS=1, so this is a failure.");
        }
        Assert.Skip(reason);
        return null!;
    }
}
