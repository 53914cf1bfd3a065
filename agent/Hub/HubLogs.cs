using Belay.Core.Install;
using Belay.Core.Programs;

namespace Belay.Agent.Hub;

/// <summary>
/// Which file a live tail reads: the same files `belay logs` prints. A program's stdout log
/// (NAME.log, which holds stderr too with redirect_stderr) or its stderr log (NAME.err.log),
/// or, for "agent", the agent's own newest log. Only names that are configured programs (or
/// have a log already) are answered: a tail.open cannot name an arbitrary path.
/// </summary>
internal static class HubLogs
{
    public static Func<string?>? Resolve(InstallLayout layout, ProgramPaths paths, string program, string stream)
    {
        if (program == "agent")
        {
            return stream == "stdout"
                ? () => Directory.Exists(layout.LogDir)
                    ? Directory.EnumerateFiles(layout.LogDir, "agent*.log").OrderByDescending(File.GetLastWriteTimeUtc).ThenByDescending(p => p, StringComparer.Ordinal).FirstOrDefault()
                    : null
                : null;
        }
        if (!ProgramsConfig.IsValidName(program))
        {
            return null;
        }
        var log = stream == "stderr" ? paths.ErrLog(program) : paths.Log(program);
        if (File.Exists(log))
        {
            return () => log;
        }
        try
        {
            var configured = ProgramsConfig.Load(paths.ConfigFile).FirstOrDefault(p => p.Name == program);
            return configured is null || (stream == "stderr" && configured.RedirectStderr) ? null : () => log;
        }
        catch (Exception e) when (e is ProgramsConfigException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
