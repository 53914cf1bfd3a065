using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Xunit;

namespace Belay.TestSupport;

/// <summary>
/// The shipped NativeAOT belay-hub, serving a private data folder on a free loopback port, for
/// end-to-end and browser tests. It can be stopped and started again on the same port and data
/// (a hub restart). Its output is kept for failure messages and for "no secret in any log".
/// </summary>
public sealed class HubProcess : IDisposable
{
    private readonly TempDir _dir = new("belay-hub-");
    private readonly StringBuilder _output = new();
    private readonly string[] _extra;
    private Process? _process;

    public HubProcess(params string[] extra)
    {
        _extra = extra;
        Data = _dir.Combine("data");
        Start("127.0.0.1:0");
    }

    public string Data { get; }
    public Uri BaseUri { get; private set; } = null!;
    public string Url => BaseUri.AbsoluteUri;
    public int Port => BaseUri.Port;
    public string Folder => _dir.Path;
    public int? Pid => _process is { HasExited: false } p ? p.Id : null;

    /// <summary>Everything the hub printed (its log), across restarts.</summary>
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

    /// <summary>The hub's --database (PostgreSQL), when it was given one; its admin commands use it too.</summary>
    public string? Database => Array.IndexOf(_extra, "--database") is var at and >= 0 && at + 1 < _extra.Length ? _extra[at + 1] : null;

    private string[] Where => Database is { } database ? ["--data", Data, "--database", database] : ["--data", Data];

    /// <summary>Runs a belay-hub admin command on this hub's data folder (and its database).</summary>
    public ToolResult Admin(params string[] args) => ExternalTool.Run(BelayBinaries.Hub, [.. args, .. Where]);

    public ToolResult AdminWithInput(string stdin, params string[] args) => ExternalTool.Run(BelayBinaries.Hub, [.. args, .. Where], stdin: stdin);

    /// <summary>A new enrollment token for <paramref name="group"/>.</summary>
    public string EnrollToken(string group = "default", int uses = 1, string expires = "1h")
    {
        var result = Admin("token", "create", "--group", group, "--uses", uses.ToString(System.Globalization.CultureInfo.InvariantCulture), "--expires", expires);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result.StdOut.Trim();
    }

    /// <summary>An operator with <paramref name="role"/> and <paramref name="password"/>, and an API token acting as them.</summary>
    public string Operator(string name, string role, string password = "correct horse battery staple")
    {
        var add = AdminWithInput(password + "\n", "user", "add", name, "--role", role, "--password-stdin");
        Assert.True(add.ExitCode == 0, add.ToString());
        var token = Admin("user", "token", name, "--name", "tests");
        Assert.True(token.ExitCode == 0, token.ToString());
        return token.StdOut.Trim();
    }

    public HttpClient Client(string apiToken)
    {
        var http = new HttpClient { BaseAddress = BaseUri, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiToken);
        return http;
    }

    /// <summary>GET an /api/v1 path as JSON.</summary>
    public JsonElement Get(string apiToken, string path)
    {
        using var http = Client(apiToken);
        using var response = http.GetAsync(path).GetAwaiter().GetResult();
        var body = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {body}");
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.Clone();
    }

    /// <summary>Polls GET /api/v1/hosts until <paramref name="done"/> holds.</summary>
    public JsonElement WaitForHosts(string apiToken, Func<JsonElement[], bool> done, TimeSpan timeout, string what)
    {
        var watch = Stopwatch.StartNew();
        JsonElement hosts = default;
        while (watch.Elapsed < timeout)
        {
            hosts = Get(apiToken, "api/v1/hosts");
            if (done([.. hosts.EnumerateArray()]))
            {
                return hosts;
            }
            Thread.Sleep(200);
        }
        Assert.Fail($"hosts not {what} within {timeout.TotalSeconds:0} s: {hosts}\nhub log:\n{Output}");
        return hosts;
    }

    public static bool Connected(JsonElement host) => host.GetProperty("connected").GetBoolean();

    /// <summary>Stops the hub (SIGTERM, then SIGKILL after 15 s).</summary>
    public void Stop()
    {
        if (_process is null)
        {
            return;
        }
        if (!_process.HasExited)
        {
            ExternalTool.Run("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            if (!_process.WaitForExit(15_000))
            {
                _process.Kill();
                _process.WaitForExit();
            }
        }
        _process.Dispose();
        _process = null;
    }

    /// <summary>Kills the hub at once (SIGKILL): a hub node that dies, with no goodbye to its agents or its database.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            process.WaitForExit();
        }
        _process?.Dispose();
        _process = null;
    }

    /// <summary>Starts again on the same port and data folder.</summary>
    public void Restart()
    {
        Stop();
        var watch = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                Start($"127.0.0.1:{Port}");
                return;
            }
            catch (InvalidOperationException) when (watch.Elapsed < TimeSpan.FromSeconds(20))
            {
                Thread.Sleep(250); // the port may still be held for a moment
            }
        }
    }

    private void Start(string listen)
    {
        var psi = new ProcessStartInfo(BelayBinaries.Hub)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])["serve", "--data", Data, "--listen", listen, .. _extra])
        {
            psi.ArgumentList.Add(arg);
        }
        var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start belay-hub");
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }
            lock (_output)
            {
                _output.AppendLine(line);
            }
            var at = line.IndexOf(" listening on ", StringComparison.Ordinal);
            if (at >= 0)
            {
                var rest = line[(at + " listening on ".Length)..];
                listening.TrySetResult(rest[..rest.IndexOf(' ', StringComparison.Ordinal)]);
            }
        }
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var started = Task.WhenAny(listening.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(60))).GetAwaiter().GetResult();
        if (started != listening.Task)
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
            process.WaitForExit();
            process.Dispose();
            throw new InvalidOperationException($"belay-hub did not start listening:\n{Output}");
        }
        _process = process;
        BaseUri = new Uri(listening.Task.Result);
    }

    public void Dispose()
    {
        try
        {
            Stop();
        }
        finally
        {
            _dir.Dispose();
        }
    }
}
