using System.Security.Cryptography;
using System.Text;

namespace Belay.Core.Programs;

/// <summary>
/// When a program that exited is started again. Precedence: an operator's `belay stop`
/// wins over every policy (a stopped program stays stopped); `fatal` (a crash loop) wins
/// over `always` and `on-failure` until a reload or `belay restart NAME`.
/// </summary>
public enum RestartPolicy
{
    /// <summary>Restart after every exit, clean or not.</summary>
    Always,

    /// <summary>Restart after a non-zero exit, a signal, or an exit before start_timeout.</summary>
    OnFailure,

    /// <summary>Never restart; the program stays `exited`.</summary>
    Never,
}

/// <summary>One [program:NAME] section of programs.conf, validated.</summary>
public sealed record ProgramDefinition
{
    public required string Name { get; init; }

    /// <summary>The program and its arguments (no shell unless the operator writes sh -c).</summary>
    public required IReadOnlyList<string> Command { get; init; }

    /// <summary>Added to the agent's environment, in order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Environment { get; init; } = [];

    /// <summary>The working directory; "/" when not given (the agent's own folder is replaced by updates).</summary>
    public string Directory { get; init; } = "/";

    public string? User { get; init; }
    public string? Group { get; init; }

    /// <summary>Windows only: the file holding <see cref="User"/>'s password (docs/programs.md, "On Windows"); the agent reads it at each start.</summary>
    public string? PasswordFile { get; init; }
    public RestartPolicy Restart { get; init; } = RestartPolicy.Always;
    public bool Autostart { get; init; } = true;
    public TimeSpan BackoffInitial { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan BackoffMax { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a program must stay up to count as started (supervisord's startsecs); an earlier exit is a failure.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(1);

    public int StopSignal { get; init; } = 15;
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Start order: lower first; stopped in the reverse order.</summary>
    public int Priority { get; init; } = 100;

    /// <summary>Each log file's size limit: NAME.log and NAME.err.log rotate separately, each within this.</summary>
    public long LogMaxBytes { get; init; } = 10 * 1024 * 1024;
    public int LogBackups { get; init; } = 5;

    /// <summary>
    /// True: stderr goes into NAME.log with stdout, interleaved exactly as written (one pipe for both,
    /// as sh's 2&gt;&amp;1). False (the default): stderr has its own pipe and its own file, NAME.err.log.
    /// </summary>
    public bool RedirectStderr { get; init; }

    /// <summary>This many failures within <see cref="FatalWindow"/> make the program `fatal`.</summary>
    public int FatalAfter { get; init; } = 5;
    public TimeSpan FatalWindow { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Set for a deployed app (core/Deploy): what its process is made from, named by the deploy
    /// (app, version, revision of its settings), which then stands for <see cref="Hash"/>. The
    /// environment holds decrypted secrets, which must not reach the state file, even hashed.
    /// </summary>
    public string? Identity { get; init; }

    /// <summary>Environment keys whose values are secrets whatever their names: shown as *** like secret-looking ones.</summary>
    public IReadOnlySet<string> SecretKeys { get; init; } = new HashSet<string>();

    /// <summary>
    /// A hash of what the running process was made from (command, environment, directory,
    /// user, group, and where its stderr goes: its file descriptors are set at exec). A reload
    /// restarts a program only when this changed; the other settings (restart policy, backoff,
    /// stop signal, log sizes) are taken over by the running program. redirect_stderr enters the
    /// hash only when true, so that the hash of every program that does not set it stays what
    /// agents before separate stderr computed: an agent update then adopts them instead of
    /// restarting them (their stderr stays in NAME.log until they next start).
    /// </summary>
    public string Hash
    {
        get
        {
            if (Identity is { } identity)
            {
                return identity;
            }
            var text = new StringBuilder();
            foreach (var arg in Command)
            {
                text.Append("arg\0").Append(arg).Append('\0');
            }
            foreach (var (key, value) in Environment)
            {
                text.Append("env\0").Append(key).Append('\0').Append(value).Append('\0');
            }
            text.Append("dir\0").Append(Directory).Append("\0user\0").Append(User).Append("\0group\0").Append(Group);
            if (PasswordFile is not null)
            {
                text.Append("\0password_file\0").Append(PasswordFile);
            }
            if (RedirectStderr)
            {
                text.Append("\0stderr\0merged");
            }
            return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
        }
    }
}
