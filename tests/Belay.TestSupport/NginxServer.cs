using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Belay.TestSupport;

/// <summary>
/// A real nginx serving a feed directory on 127.0.0.1, for end-to-end tests: the same MIME
/// types and caching headers as the production block in docs/feed.md (a test holds the two
/// in step). Everything nginx writes (pid, temp, logs) stays in a private temp dir.
///
/// nginx runs with <c>master_process off</c>: one process, under the caller's own user. With
/// a master, nginx started as root hands requests to workers running as "nobody", which may
/// not read a test's 0700 temp dirs; a single process needs no <c>user root;</c>.
/// </summary>
public sealed class NginxServer : IDisposable
{
    /// <summary>Cache-Control by path (http level); docs/feed.md has the same block.</summary>
    public const string CacheControlMap = """
        map $uri $belay_cache_control {
            ~\.json(\.minisig)?$          "no-cache";
            ~^/(agent|bootstrap)/[^/]+/   "public, max-age=31536000, immutable";
            default                       "no-cache";
        }
        """;

    /// <summary>The feed's server-level directives; docs/feed.md has the same block.</summary>
    public const string FeedDirectives = """
        types {
            application/json    json;
            text/plain          minisig txt sh ps1;
            application/gzip    gz tgz;
            application/zip     zip;
            application/x-msi   msi;
        }
        default_type application/octet-stream;
        charset utf-8;                  # text/plain; charset=utf-8
        charset_types text/plain;
        etag on;                        # with If-None-Match -> 304
        gzip on;                        # JSON and text only: archives are not in gzip_types,
        gzip_types application/json text/plain;   # so they are never recompressed
        add_header Cache-Control $belay_cache_control;
        add_header X-Content-Type-Options nosniff;

        location / {
            try_files $uri =404;        # files only: no listing, no index
        }
        location ~ /\. {
            return 404;                 # hidden files: a publisher's temporaries
        }
        location ~ /SHA256SUMS$ {
            default_type text/plain;
            try_files $uri =404;
        }
        """;

    private readonly TempDir prefix;
    private readonly Process process;
    private readonly StringBuilder output;

    private NginxServer(TempDir prefix, Process process, StringBuilder output, int port)
    {
        this.prefix = prefix;
        this.process = process;
        this.output = output;
        BaseUri = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/");
    }

    public Uri BaseUri { get; }

    public string ConfigPath => prefix.Combine("nginx.conf");

    /// <summary>nginx's access log so far (combined format): what clients asked and got.</summary>
    public string AccessLog => File.Exists(prefix.Combine("access.log")) ? File.ReadAllText(prefix.Combine("access.log")) : "";

    /// <summary>nginx's error log and console output so far, for failure messages.</summary>
    public string Diagnostics
    {
        get
        {
            var log = File.Exists(prefix.Combine("error.log")) ? File.ReadAllText(prefix.Combine("error.log")) : "";
            lock (output)
            {
                return log + output;
            }
        }
    }

    /// <summary>Starts nginx over <paramref name="feedRoot"/> and waits until it answers. Skips
    /// the test (fails it when tools are required) if nginx is not installed.</summary>
    public static NginxServer Start(string feedRoot)
    {
        var root = Path.GetFullPath(feedRoot);
        return StartWith((prefix, port) => RenderConfig(prefix, root, port));
    }

    /// <summary>
    /// nginx with what <paramref name="servers"/> says inside <c>http { }</c> after the common lines (the
    /// paths, the logs), given the port to listen on: a reverse proxy, for instance.
    /// </summary>
    public static NginxServer StartHttp(Func<int, string> servers)
    {
        ArgumentNullException.ThrowIfNull(servers);
        return StartWith((prefix, port) => RenderHttp(prefix, servers(port)));
    }

    private static NginxServer StartWith(Func<string, int, string> render)
    {
        var nginx = ExternalTool.Require("nginx", "nginx-light");
        var failures = new StringBuilder();
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var temp = new TempDir("belay-nginx-");
            var port = FreePort();
            File.WriteAllText(temp.Combine("nginx.conf"), render(temp.Path, port));
            var psi = new ProcessStartInfo(nginx)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in (string[])["-c", temp.Combine("nginx.conf"), "-p", temp.Path + "/", "-e", temp.Combine("error.log")])
            {
                psi.ArgumentList.Add(arg);
            }
            var output = new StringBuilder();
            var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start nginx");
            process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
            process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var server = new NginxServer(temp, process, output, port);
            if (server.WaitUntilAnswering(TimeSpan.FromSeconds(15)))
            {
                return server;
            }
            var diagnostics = server.Diagnostics;
            server.Dispose();
            failures.AppendLine(CultureInfo.InvariantCulture, $"attempt {attempt + 1} on port {port}:\n{diagnostics}");
            if (!diagnostics.Contains("Address already in use", StringComparison.Ordinal))
            {
                break; // only a lost race for the port is worth another try
            }
        }
        throw new InvalidOperationException($"nginx did not start:\n{failures}");
    }

    /// <summary>The whole nginx.conf: daemon off, one process, every path under
    /// <paramref name="prefixDir"/>, listening on 127.0.0.1:<paramref name="port"/>.</summary>
    public static string RenderConfig(string prefixDir, string feedRoot, int port)
    {
        var b = new StringBuilder();
        b.AppendLine("    sendfile on;");
        b.AppendLine(Indent(CacheControlMap, 4));
        b.AppendLine("    server {");
        b.AppendLine(CultureInfo.InvariantCulture, $"        listen 127.0.0.1:{port};");
        b.AppendLine(CultureInfo.InvariantCulture, $"        root \"{feedRoot.Replace("\\", "/", StringComparison.Ordinal)}\";");
        b.AppendLine(Indent(FeedDirectives, 8));
        b.AppendLine("    }");
        return RenderHttp(prefixDir, b.ToString());
    }

    /// <summary>The whole nginx.conf around <paramref name="http"/> (what goes in <c>http { }</c> besides the paths and logs).</summary>
    private static string RenderHttp(string prefixDir, string http)
    {
        string Q(string path) => "\"" + Path.Combine(prefixDir, path).Replace("\\", "/", StringComparison.Ordinal) + "\"";
        var b = new StringBuilder();
        b.AppendLine("daemon off;");
        b.AppendLine("master_process off;");
        b.AppendLine(CultureInfo.InvariantCulture, $"pid {Q("nginx.pid")};");
        b.AppendLine(CultureInfo.InvariantCulture, $"lock_file {Q("nginx.lock")};");
        b.AppendLine(CultureInfo.InvariantCulture, $"error_log {Q("error.log")} info;");
        b.AppendLine("events { worker_connections 256; }");
        b.AppendLine("http {");
        b.AppendLine(CultureInfo.InvariantCulture, $"    access_log {Q("access.log")};");
        foreach (var temp in (string[])["client_body", "proxy", "fastcgi", "uwsgi", "scgi"])
        {
            b.AppendLine(CultureInfo.InvariantCulture, $"    {temp}_temp_path {Q(temp)};");
        }
        b.Append(http);
        b.AppendLine("}");
        return b.ToString();
    }

    public void Dispose()
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // it exited between the check and the kill
        }
        process.Dispose();
        prefix.Dispose();
    }

    private bool WaitUntilAnswering(TimeSpan limit)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < limit)
        {
            if (process.HasExited)
            {
                return false;
            }
            try
            {
                using var response = client.GetAsync(BaseUri).GetAwaiter().GetResult();
                return true; // any status: it answers HTTP
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            Thread.Sleep(50);
        }
        return false;
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private static string Indent(string block, int spaces)
    {
        var pad = new string(' ', spaces);
        return string.Join('\n', block.Split('\n').Select(l => l.Length == 0 ? l : pad + l));
    }
}
