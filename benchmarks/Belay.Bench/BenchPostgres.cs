using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Belay.Bench;

/// <summary>
/// A real PostgreSQL for the hub-at-scale bench, started as the tests start theirs
/// (tests/Belay.TestSupport/PostgresServer.cs, which the bench cannot reference: it is an xunit
/// fixture): Debian's server binaries, <c>initdb</c> into a new folder of /tmp,
/// the server on a free port of 127.0.0.1 with trust authentication for <see cref="User"/>, no
/// fsync. PostgreSQL refuses to run as root: when the bench does, initdb and the server run as
/// nobody (65534) through setpriv, in a folder they own. Stopped with a fast shutdown at the end.
/// </summary>
internal sealed class BenchPostgres : IDisposable
{
    public const string User = "belay";

    private readonly string _bin;
    private readonly Process _process;

    private readonly string _dir;

    /// <summary>Starts it in a new folder of /tmp (its own: the bench's work folder is root's 0700, which nobody cannot enter).</summary>
    public BenchPostgres(int maxConnections)
    {
        var dir = _dir = Directory.CreateTempSubdirectory("belay-bench-pg-").FullName;
        _bin = FindBinaries() ?? throw new InvalidOperationException("PostgreSQL's server binaries are missing: run sh scripts/install-deps.sh (Debian's postgresql)");
        var root = Environment.IsPrivilegedProcess;
        var data = Path.Combine(dir, "data");
        Directory.CreateDirectory(data);
        if (root)
        {
            File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
            Shell.Check("chown", ["65534:65534", data, dir]);
        }
        Shell.Check(Exe(root, "initdb"), [.. Args(root, "initdb"), "-D", data, "-U", User, "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
            timeout: TimeSpan.FromMinutes(2));
        Port = FreePort();
        _process = Shell.Start(Exe(root, "postgres"), [.. Args(root, "postgres"), "-D", data, "-k", dir, "-h", "127.0.0.1",
            "-p", Port.ToString(CultureInfo.InvariantCulture), "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=" + maxConnections.ToString(CultureInfo.InvariantCulture), "-c", "log_min_messages=warning"], Path.Combine(dir, "postgres.log"));
        var watch = Stopwatch.StartNew();
        while (!Shell.Run(Path.Combine(_bin, "pg_isready"), ["-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", User]).Ok)
        {
            if (_process.HasExited || watch.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new InvalidOperationException($"PostgreSQL did not start: {File.ReadAllText(Path.Combine(dir, "postgres.log"))}");
            }
            Thread.Sleep(200);
        }
    }

    public int Port { get; }

    /// <summary>The postmaster (setpriv execs it, so the pid is the server's).</summary>
    public int Pid => _process.Id;

    public string Version => Shell.VersionOf(Path.Combine(_bin, "postgres"), "--version");

    /// <summary>A new database; its URL as belay-hub --database takes it.</summary>
    public string CreateDatabase(string name)
    {
        Shell.Check(Path.Combine(_bin, "psql"), ["-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", User, "-d", "postgres",
            "-v", "ON_ERROR_STOP=1", "-c", $"CREATE DATABASE {name}"]);
        return $"postgres://{User}@127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/{name}";
    }

    /// <summary>One value from a query (psql, unaligned, tuples only).</summary>
    public string Query(string database, string sql) =>
        Shell.Check(Path.Combine(_bin, "psql"), ["-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", User, "-d", database,
            "-v", "ON_ERROR_STOP=1", "-A", "-t", "-c", sql]).StdOut.Trim();

    /// <summary>Rows written (inserted, updated, deleted) in each of a database's tables so far, and its transactions committed (reads included).</summary>
    public (Dictionary<string, long> Rows, long Commits) Writes(string database)
    {
        var rows = Query(database, "SELECT relname || ' ' || (n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_user_tables")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' '))
            .ToDictionary(w => w[0], w => long.Parse(w[1], CultureInfo.InvariantCulture), StringComparer.Ordinal);
        var commits = Query(database, $"SELECT xact_commit FROM pg_stat_database WHERE datname = '{database}'");
        return (rows, long.Parse(commits, CultureInfo.InvariantCulture));
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            Shell.Signal(_process.Id, "INT"); // PostgreSQL's fast shutdown
            if (!_process.WaitForExit(30_000))
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5_000);
            }
        }
        _process.Dispose();
        if (Environment.GetEnvironmentVariable("BELAY_BENCH_KEEP") != "1")
        {
            try
            {
                Directory.Delete(_dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private string Exe(bool root, string name) => root ? "setpriv" : Path.Combine(_bin, name);

    private string[] Args(bool root, string name) => root ? ["--reuid=65534", "--regid=65534", "--clear-groups", Path.Combine(_bin, name)] : [];

    private static string? FindBinaries() =>
        Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : 0)
                .Select(d => Path.Combine(d, "bin"))
                .FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "postgres")))
            : null;

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
