using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Belay.Bench;

/// <summary>One request from nginx's access log (the bench's own log format).</summary>
internal sealed record AccessLine(double Time, int Status, long BytesSent, long BodyBytes, long Connection, string Method, string Path, string UserAgent);

/// <summary>
/// A real nginx serving one feed folder on 127.0.0.1, with the production block of
/// docs/feed.md (same MIME types, Cache-Control, ETag and gzip settings), over HTTPS with the
/// bench's CA-signed certificate or over plain HTTP. One process (master_process off), its
/// files under its own folder, and an access log in a format the bench parses:
/// <c>$msec $status $bytes_sent $body_bytes_sent $connection "$request" "$http_user_agent"</c>
/// ($connection is nginx's serial number of the TCP connection: polls on one connection reuse it).
/// </summary>
internal sealed class Nginx : IDisposable
{
    private readonly Process _process;

    private Nginx(string dir, Process process, int port, bool tls)
    {
        Dir = dir;
        _process = process;
        Port = port;
        BaseUrl = $"{(tls ? "https" : "http")}://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/";
    }

    public string Dir { get; }
    public int Port { get; }
    public string BaseUrl { get; }
    public string AccessLogPath => Path.Combine(Dir, "access.log");

    /// <summary>Starts nginx over <paramref name="feedRoot"/>; TLS when <paramref name="tls"/> is given.</summary>
    public static Nginx Start(string dir, string feedRoot, Tls? tls, bool bufferedLog = false)
    {
        Directory.CreateDirectory(dir);
        for (var attempt = 0; ; attempt++)
        {
            var port = FreePort();
            File.WriteAllText(Path.Combine(dir, "nginx.conf"), Render(dir, feedRoot, port, tls, bufferedLog));
            var p = Shell.Start(Shell.Which("nginx") ?? "/usr/sbin/nginx",
                ["-c", Path.Combine(dir, "nginx.conf"), "-p", dir + "/", "-e", Path.Combine(dir, "error.log")],
                Path.Combine(dir, "console.log"));
            var server = new Nginx(dir, p, port, tls is not null);
            if (server.WaitListening(TimeSpan.FromSeconds(15)))
            {
                return server;
            }
            server.Dispose();
            var errors = File.Exists(Path.Combine(dir, "error.log")) ? File.ReadAllText(Path.Combine(dir, "error.log")) : "";
            if (attempt >= 2 || !errors.Contains("Address already in use", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"nginx did not start in {dir}:\n{errors}");
            }
        }
    }

    /// <summary>Every request logged so far (nginx flushes a buffered log within a second).</summary>
    public List<AccessLine> ReadLog()
    {
        var lines = new List<AccessLine>();
        if (!File.Exists(AccessLogPath))
        {
            return lines;
        }
        foreach (var line in File.ReadLines(AccessLogPath))
        {
            if (Parse(line) is { } a)
            {
                lines.Add(a);
            }
        }
        return lines;
    }

    public static AccessLine? Parse(string line)
    {
        // 1764215047.123 304 212 0 17 "GET /channels/stable.json HTTP/1.1" "belay"
        var q1 = line.IndexOf('"', StringComparison.Ordinal);
        if (q1 < 0)
        {
            return null;
        }
        var head = line[..q1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var q2 = line.IndexOf('"', q1 + 1);
        var q3 = line.IndexOf('"', q2 + 1);
        var q4 = line.LastIndexOf('"');
        if (head.Length < 5 || q2 < 0 || q3 < 0 || q4 <= q3)
        {
            return null;
        }
        var request = line[(q1 + 1)..q2].Split(' ');
        var ic = CultureInfo.InvariantCulture;
        return new AccessLine(double.Parse(head[0], ic), int.Parse(head[1], ic), long.Parse(head[2], ic), long.Parse(head[3], ic), long.Parse(head[4], ic),
            request.Length > 0 ? request[0] : "", request.Length > 1 ? request[1] : "", line[(q3 + 1)..q4]);
    }

    /// <summary>Now on the clock nginx logs with ($msec: seconds since the epoch).</summary>
    public static double Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

    public void Dispose()
    {
        // QUIT: a graceful stop that also flushes a buffered access log.
        try
        {
            if (!_process.HasExited)
            {
                Shell.Signal(_process.Id, "QUIT");
                if (!_process.WaitForExit(10_000))
                {
                    _process.Kill(entireProcessTree: true);
                }
            }
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }

    private static string Render(string dir, string feedRoot, int port, Tls? tls, bool bufferedLog)
    {
        string Q(string name) => "\"" + Path.Combine(dir, name) + "\"";
        var ic = CultureInfo.InvariantCulture;
        var b = new StringBuilder();
        b.AppendLine("daemon off;");
        b.AppendLine("master_process off;");
        b.AppendLine("worker_rlimit_nofile 16384;");
        b.AppendLine(ic, $"pid {Q("nginx.pid")};");
        b.AppendLine(ic, $"lock_file {Q("nginx.lock")};");
        b.AppendLine(ic, $"error_log {Q("error.log")} warn;");
        b.AppendLine("events { worker_connections 8192; }");
        b.AppendLine("http {");
        b.AppendLine("    log_format bench '$msec $status $bytes_sent $body_bytes_sent $connection \"$request\" \"$http_user_agent\"';");
        b.AppendLine(ic, $"    access_log {Q("access.log")} bench{(bufferedLog ? " buffer=256k flush=1s" : "")};");
        foreach (var temp in (string[])["client_body", "proxy", "fastcgi", "uwsgi", "scgi"])
        {
            b.AppendLine(ic, $"    {temp}_temp_path {Q(temp)};");
        }
        b.AppendLine("    keepalive_requests 100000;");
        // From here on: docs/feed.md's production block, but for the listen and certificate lines.
        b.AppendLine("""
                map $uri $belay_cache_control {
                    ~\.json(\.minisig)?$          "no-cache";
                    ~^/(agent|bootstrap)/[^/]+/   "public, max-age=31536000, immutable";
                    default                       "no-cache";
                }
            """);
        b.AppendLine("    server {");
        if (tls is not null)
        {
            b.AppendLine(ic, $"        listen 127.0.0.1:{port} ssl;");
            b.AppendLine(ic, $"        ssl_certificate \"{tls.ServerCert}\";");
            b.AppendLine(ic, $"        ssl_certificate_key \"{tls.ServerKey}\";");
            b.AppendLine("        ssl_protocols TLSv1.2 TLSv1.3;");
        }
        else
        {
            b.AppendLine(ic, $"        listen 127.0.0.1:{port};");
        }
        b.AppendLine(ic, $"        root \"{feedRoot}\";");
        b.AppendLine("""
                    sendfile on;
                    tcp_nopush on;
                    types {
                        application/json    json;
                        text/plain          minisig txt sh ps1;
                        application/gzip    gz tgz;
                        application/zip     zip;
                        application/x-msi   msi;
                    }
                    default_type application/octet-stream;
                    charset utf-8;
                    charset_types text/plain;
                    etag on;
                    gzip on;
                    gzip_types application/json text/plain;
                    add_header Cache-Control $belay_cache_control;
                    add_header X-Content-Type-Options nosniff;
                    location / {
                        try_files $uri =404;
                    }
                    location ~ /\. {
                        return 404;
                    }
                    location ~ /SHA256SUMS$ {
                        default_type text/plain;
                        try_files $uri =404;
                    }
            """);
        b.AppendLine("    }");
        b.AppendLine("}");
        return b.ToString();
    }

    private bool WaitListening(TimeSpan limit)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < limit)
        {
            if (_process.HasExited)
            {
                return false;
            }
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, Port);
                return true;
            }
            catch (SocketException)
            {
                Thread.Sleep(50);
            }
        }
        return false;
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
