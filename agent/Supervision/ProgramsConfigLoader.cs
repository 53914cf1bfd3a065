using Belay.Core.Programs;
using Serilog;

namespace Belay.Agent.Supervision;

/// <summary>
/// Reads programs.conf for the agent, with two guards: a file that others may write is
/// refused (it says what runs, as root when the agent is root), and a file others may read
/// is warned about (it may hold secrets in environment). The last config accepted is kept
/// in state/programs/accepted.conf, so that an agent started after a bad edit (an update,
/// a crash) still knows the programs it adopts; the operator's next reload fixes it.
/// On Windows the file's mode is not checked (it has none): the config folder's ACL guards it.
/// </summary>
internal sealed class ProgramsConfigLoader(ProgramPaths paths, ILogger log)
{
    private string AcceptedCopy => Path.Combine(paths.StateDir, "accepted.conf");

    /// <summary>The config; throws <see cref="ProgramsConfigException"/> naming file, line and field.</summary>
    public IReadOnlyList<ProgramDefinition> Load()
    {
        if (!File.Exists(paths.ConfigFile))
        {
            return [];
        }
        string text;
        try
        {
            if (!OperatingSystem.IsWindows())
            {
                var mode = File.GetUnixFileMode(paths.ConfigFile);
                if ((mode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
                {
                    throw new ProgramsConfigException($"{paths.ConfigFile}: refused: others may write it (mode {Convert.ToString((int)mode, 8)}); chmod 600 it");
                }
                if ((mode & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) != 0)
                {
                    log.Warning("{Config} is readable by others (mode {Mode}); it may hold secrets: chmod 600 it", paths.ConfigFile, Convert.ToString((int)mode, 8));
                }
            }
            text = File.ReadAllText(paths.ConfigFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ProgramsConfigException($"{paths.ConfigFile}: cannot be read ({Belay.Core.IO.IOErrors.Describe(e)})", e);
        }
        var programs = ProgramsConfig.Parse(text, paths.ConfigFile);
        try
        {
            Belay.Core.IO.AtomicFile.WriteAllText(AcceptedCopy, text, Belay.Core.IO.AtomicFile.OwnerOnly);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Only a fallback for a later bad edit: the config itself is good and is used.
            log.Warning("cannot keep a copy of the accepted programs config: {Error}", Belay.Core.IO.IOErrors.DescribeWrite(e, AcceptedCopy));
        }
        return programs;
    }

    /// <summary>At start-up: the config, or when it has an error, the last one accepted.</summary>
    public IReadOnlyList<ProgramDefinition> LoadAtStart()
    {
        try
        {
            return Load();
        }
        catch (ProgramsConfigException e)
        {
            if (File.Exists(AcceptedCopy))
            {
                log.Error("{Error}; running the last accepted programs config until it is fixed (then belay reload)", e.Message);
                try
                {
                    return ProgramsConfig.Parse(File.ReadAllText(AcceptedCopy), AcceptedCopy);
                }
                catch (Exception copy) when (copy is ProgramsConfigException or IOException or UnauthorizedAccessException)
                {
                    log.Error("{Copy}: cannot be used either ({Error}); no programs run until the config is fixed (then belay reload)", AcceptedCopy, copy.Message);
                    return [];
                }
            }
            log.Error("{Error}; no programs run until it is fixed (then belay reload)", e.Message);
            return [];
        }
    }
}
