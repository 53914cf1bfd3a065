using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit;

namespace Belay.TestSupport;

/// <summary>
/// A real PostgreSQL (Debian's <c>postgresql</c> package) for the hub's tests: <c>initdb</c> into a
/// temp folder, the server on a free port of 127.0.0.1 with its Unix sockets in that folder, trust
/// authentication for the test user <see cref="User"/>, no fsync (a test database need not survive
/// a power cut). Stopped and deleted at the end. One per test assembly (an assembly fixture), with a
/// database per test (<see cref="CreateDatabase"/>).
///
/// PostgreSQL refuses to run as root; when the tests do (CI), initdb and the server run as nobody
/// (65534) through setpriv, in a folder they own.
/// </summary>
public sealed class PostgresServer : IDisposable
{
    public const string User = "belay";

    private readonly TempDir _dir = new("belay-pg-");
    private readonly StringBuilder _output = new();
    private readonly Process? _process;
    private readonly string? _bin;
    private int _databases;

    public PostgresServer()
    {
        _bin = FindBinaries();
        if (_bin is null)
        {
            return; // each test that uses it skips (or fails, under BELAY_REQUIRE_TOOLS) through Require()
        }
        // A server that did not come up is ended here (and its folder removed): the constructor's throw leaves no object
        // for anyone to dispose, and a postgres still starting would outlive the run.
        try
        {
            var root = OtherUser.TestsRunAsRoot;
            var data = Path.Combine(_dir.Path, "data");
            if (root)
            {
                // nobody must reach and own its folder: the temp folder is 0700 root's otherwise.
                File.SetUnixFileMode(_dir.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
                Directory.CreateDirectory(data);
                Run("chown", ["65534:65534", data]);
                Run("chown", ["65534:65534", _dir.Path]);
            }
            Run(AsTestUser(root, Path.Combine(_bin, "initdb")), [.. AsTestUserArgs(root, Path.Combine(_bin, "initdb")),
                "-D", data, "-U", User, "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
            Port = FreePort();
            var psi = new ProcessStartInfo(AsTestUser(root, Path.Combine(_bin, "postgres")))
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in (string[])[.. AsTestUserArgs(root, Path.Combine(_bin, "postgres")), "-D", data, "-k", _dir.Path, "-h", "127.0.0.1",
                         "-p", Port.ToString(CultureInfo.InvariantCulture), "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                         "-c", "max_connections=300", "-c", "log_min_messages=warning"])
            {
                psi.ArgumentList.Add(arg);
            }
            _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start postgres");
            _process.OutputDataReceived += (_, e) => Append(e.Data);
            _process.ErrorDataReceived += (_, e) => Append(e.Data);
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
            var watch = Stopwatch.StartNew();
            while (true)
            {
                var ready = ExternalTool.Run(Path.Combine(_bin, "pg_isready"), ["-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", User]);
                if (ready.ExitCode == 0)
                {
                    break;
                }
                if (_process.HasExited || watch.Elapsed > TimeSpan.FromSeconds(60))
                {
                    throw new InvalidOperationException($"PostgreSQL did not start: {ready}\n{Output}");
                }
                Thread.Sleep(200);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int Port { get; }

    /// <summary>What the server printed, for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Skips the test (fails it when tools are required) when PostgreSQL is not installed; the server otherwise.</summary>
    public PostgresServer Require()
    {
        if (_bin is null)
        {
            ExternalTool.Require("initdb", "postgresql");
        }
        return this;
    }

    /// <summary>A new, empty database; its URL as `belay-hub --database` takes it.</summary>
    public string CreateDatabase(string prefix = "hub")
    {
        Require();
        var name = $"{prefix}_{Interlocked.Increment(ref _databases)}";
        var result = Psql("postgres", $"CREATE DATABASE {name}");
        Assert.True(result.ExitCode == 0, result.ToString());
        return $"postgres://{User}@127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/{name}";
    }

    /// <summary>Runs SQL on <paramref name="database"/> (a name or a URL from <see cref="CreateDatabase"/>) with psql; its output, unaligned, tuples only.</summary>
    public ToolResult Psql(string database, string sql)
    {
        Require();
        var name = database.Contains('/', StringComparison.Ordinal) ? database[(database.LastIndexOf('/') + 1)..] : database;
        return ExternalTool.Run(Path.Combine(_bin!, "psql"), ["-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", User, "-d", name,
            "-v", "ON_ERROR_STOP=1", "-A", "-t", "-c", sql]);
    }

    public void Dispose()
    {
        try
        {
            if (_process is { HasExited: false })
            {
                // SIGINT: PostgreSQL's fast shutdown (ends the sessions, then stops).
                ExternalTool.Run("kill", ["-INT", _process.Id.ToString(CultureInfo.InvariantCulture)]);
                if (!_process.WaitForExit(30_000))
                {
                    _process.Kill(entireProcessTree: true);
                    _process.WaitForExit();
                }
            }
            _process?.Dispose();
        }
        finally
        {
            _dir.Dispose();
        }
    }

    /// <summary>Debian's server binaries (/usr/lib/postgresql/VERSION/bin, the newest), or pg_config's bindir.</summary>
    private static string? FindBinaries()
    {
        var candidates = new List<string>();
        if (Directory.Exists("/usr/lib/postgresql"))
        {
            candidates.AddRange(Directory.GetDirectories("/usr/lib/postgresql")
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : 0)
                .Select(d => Path.Combine(d, "bin")));
        }
        if (ExternalTool.Find("pg_config") is { } pgConfig && ExternalTool.Run(pgConfig, ["--bindir"]) is { ExitCode: 0 } bindir)
        {
            candidates.Add(bindir.StdOut.Trim());
        }
        return candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "postgres")));
    }

    private static string AsTestUser(bool root, string executable) => root ? ExternalTool.Require("setpriv", "util-linux") : executable;

    private static string[] AsTestUserArgs(bool root, string executable) => root ? ["--reuid=65534", "--regid=65534", "--clear-groups", executable] : [];

    private static void Run(string executable, string[] args)
    {
        var result = ExternalTool.Run(executable, args, timeout: TimeSpan.FromMinutes(2));
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{executable} {string.Join(' ', args)}: {result}");
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
