using System.Text.Json;
using System.Text.Json.Serialization;
using Belay.Core.IO;

namespace Belay.Core.Programs.Windows;

/// <summary>One program the keeper holds for the next agent: its name, how its output goes, its identity and the handles' values in the keeper.</summary>
public sealed class HeldProgram
{
    public string Name { get; set; } = "";
    public bool SeparateStderr { get; set; }
    public int Pid { get; set; }
    public long CreationTime { get; set; }
    public long Job { get; set; }
    public long Process { get; set; }
    public long Stdout { get; set; }
    public long Stderr { get; set; }
}

/// <summary>state/programs/held.json: the keeper (by pid and creation time) and the programs whose handles it holds.</summary>
public sealed class HeldPrograms
{
    public int HolderPid { get; set; }
    public long HolderCreationTime { get; set; }
    public List<HeldProgram> Programs { get; set; } = [];

    public void Save(string path) =>
        AtomicFile.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(this, HandoverJsonContext.Default.HeldPrograms), AtomicFile.OwnerOnly);

    /// <summary>The file, or null when there is none or it cannot be read (then nothing is reclaimed: <paramref name="problem"/> says why).</summary>
    public static HeldPrograms? TryLoad(string path, out string? problem)
    {
        problem = null;
        try
        {
            if (!File.Exists(path))
            {
                return null;
            }
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), HandoverJsonContext.Default.HeldPrograms);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            problem = $"cannot read {path}: {e.Message}; the programs it names are not re-attached (they end with the keeper's service)";
            return null;
        }
    }
}

/// <summary>A program taken back from the keeper: its name, how its output goes, and this process's handles.</summary>
public sealed record ReclaimedProgram(string Name, bool SeparateStderr, JobProgram Program);

/// <summary>
/// The hand-over of programs across an agent update on Windows (docs/programs.md, "On Windows"). The agent
/// that exits puts copies of each program's job, process and pipe read ends into the keeper
/// (<see cref="Hold"/>) and writes their values to state/programs/held.json; the keeper does nothing with them
/// but hold them, which keeps the jobs (kill-on-close) and their programs alive, keeps the exit code of a
/// program that ends meanwhile readable, and keeps a reader on each pipe so that what the programs write
/// waits in the pipe's buffer. The next agent copies them back and closes the keeper's copies
/// (<see cref="Reclaim"/>), so the keeper holds nothing while an agent runs. When the keeper's process ends
/// (its service stops) the copies close and the jobs end their programs.
/// Hazard: the values only mean something in the keeper that was given them: a file of another keeper
/// (another pid, or the same pid started at another time) is not used, and the file is deleted before the
/// keeper's copies are closed, so that no later agent closes handles that are no longer these.
/// </summary>
public sealed class ProgramHandover(ProgramJobs jobs)
{
    /// <summary>Puts the programs' handles into the keeper <paramref name="holderPid"/>; a program that cannot be
    /// handed over is named in <paramref name="warn"/> (it ends with this agent, and the next one starts it again).</summary>
    public HeldPrograms Hold(int holderPid, IReadOnlyList<ReclaimedProgram> programs, Action<string> warn)
    {
        ArgumentNullException.ThrowIfNull(programs);
        ArgumentNullException.ThrowIfNull(warn);
        var holder = jobs.OpenHolder(holderPid, null);
        try
        {
            var file = new HeldPrograms { HolderPid = holderPid, HolderCreationTime = jobs.CreationTime(holder) };
            foreach (var (name, separateStderr, program) in programs)
            {
                try
                {
                    var held = jobs.Hold(holder, program);
                    file.Programs.Add(new HeldProgram
                    {
                        Name = name,
                        SeparateStderr = separateStderr,
                        Pid = program.Pid,
                        CreationTime = program.CreationTime,
                        Job = held.Job,
                        Process = held.Process,
                        Stdout = held.Stdout,
                        Stderr = held.Stderr,
                    });
                }
                catch (WindowsCallException e)
                {
                    warn($"{name} (pid {program.Pid}) cannot be handed over to the keeper ({e.Message}); it ends with this agent");
                }
            }
            return file;
        }
        finally
        {
            jobs.CloseHolder(holder);
        }
    }

    /// <summary>
    /// Takes the programs of <paramref name="file"/> back from the keeper <paramref name="keeperPid"/> (this agent's),
    /// and closes the keeper's copies. <paramref name="forget"/> deletes the file; it runs before any copy is closed.
    /// A program whose handles are not what the file says is named in <paramref name="warn"/> and left out.
    /// </summary>
    public List<ReclaimedProgram> Reclaim(HeldPrograms file, int? keeperPid, Action forget, Action<string> warn)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(forget);
        ArgumentNullException.ThrowIfNull(warn);
        var reclaimed = new List<ReclaimedProgram>();
        if (keeperPid != file.HolderPid)
        {
            forget();
            warn($"the programs were handed over to the keeper pid {file.HolderPid}, not to this agent's ({keeperPid?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}): "
                + "they ended with it, and start again");
            return reclaimed;
        }
        nint holder;
        try
        {
            holder = jobs.OpenHolder(file.HolderPid, file.HolderCreationTime);
        }
        catch (WindowsCallException e)
        {
            forget();
            warn($"cannot take the programs back from the keeper (pid {file.HolderPid}): {e.Message}; they start again");
            return reclaimed;
        }
        try
        {
            forget();
            foreach (var p in file.Programs)
            {
                var held = new HeldHandles(p.Job, p.Process, p.Stdout, p.Stderr);
                try
                {
                    reclaimed.Add(new ReclaimedProgram(p.Name, p.SeparateStderr, jobs.Reclaim(holder, held, p.Pid, p.CreationTime)));
                }
                catch (WindowsCallException e)
                {
                    warn($"cannot take {p.Name} (pid {p.Pid}) back from the keeper: {e.Message}; it ends, and starts again");
                }
                finally
                {
                    jobs.Release(holder, held);
                }
            }
            return reclaimed;
        }
        finally
        {
            jobs.CloseHolder(holder);
        }
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(HeldPrograms))]
public sealed partial class HandoverJsonContext : JsonSerializerContext;
