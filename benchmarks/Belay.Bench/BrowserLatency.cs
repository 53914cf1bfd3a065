using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Belay.Bench;

/// <summary>
/// A program's write to the hub's live-log page in a real browser: Debian's headless Chromium,
/// driven through chromedriver's WebDriver HTTP API (no Selenium in the bench). The page's own
/// clock marks when each stamped line is complete in the DOM; the program stamped when it wrote it.
/// </summary>
internal static class BrowserLatency
{
    /// <summary>The browser's delays in ms, or null with the reason when Chromium or chromedriver is not installed.</summary>
    public static (List<double>? Latencies, string? Missing) Measure(string dir, string hubUrl, string user, string password, string hostId, string program, int lines)
    {
        var chromium = Shell.Which("chromium");
        var driverPath = Shell.Which("chromedriver");
        if (chromium is null || driverPath is null)
        {
            return (null, "chromium or chromedriver is not installed (sh scripts/install-deps.sh installs both)");
        }
        var log = Path.Combine(dir, "chromedriver.log");
        var driver = Shell.Start(driverPath, ["--port=0"], log);
        try
        {
            var port = WaitForPort(log, driver);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(90) };
            var args = new JsonArray("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1480,900",
                "--user-data-dir=" + Path.Combine(dir, "chromium"));
            var capabilities = new JsonObject
            {
                ["capabilities"] = new JsonObject
                {
                    ["alwaysMatch"] = new JsonObject
                    {
                        ["browserName"] = "chrome",
                        ["goog:chromeOptions"] = new JsonObject { ["binary"] = chromium, ["args"] = args },
                    },
                },
            };
            var session = Call(http, HttpMethod.Post, "session", capabilities).GetProperty("sessionId").GetString()!;
            try
            {
                Go(http, session, hubUrl + "login");
                Script(http, session, """
                    document.getElementById('name').value = arguments[0];
                    document.getElementById('password').value = arguments[1];
                    document.getElementById('login').click();
                    """, user, password);
                Until(http, session, "return !location.pathname.startsWith('/login');", TimeSpan.FromSeconds(30), "leaving the login page");
                Go(http, session, $"{hubUrl}hosts/{hostId}/logs/{program}?stream=stdout");
                Until(http, session, "return document.getElementById('l-status').textContent === 'live';", TimeSpan.FromSeconds(30), "the live log");
                // From now on: each line "lat N NANOSECONDS", once complete in the page, with the page's time.
                Script(http, session, """
                    window.__seen = new Map();
                    const log = document.getElementById('log');
                    new MutationObserver(() => {
                      const now = Date.now();
                      const nodes = log.getElementsByClassName('line');
                      for (let i = Math.max(0, nodes.length - 64); i < nodes.length; i++) {
                        const n = nodes[i], m = /^lat (\d+) (\d{19})$/.exec(n.textContent);
                        if (m && !window.__seen.has(m[1])) window.__seen.set(m[1], now + ' ' + m[2]);
                      }
                    }).observe(log, { childList: true, subtree: true, characterData: true });
                    """);
                var watch = Stopwatch.StartNew();
                List<string> seen = [];
                while (watch.Elapsed < TimeSpan.FromMinutes(3))
                {
                    Thread.Sleep(1000);
                    seen = [.. Script(http, session, "return [...window.__seen.values()];").EnumerateArray().Select(e => e.GetString()!)];
                    if (seen.Count > lines)
                    {
                        break;
                    }
                }
                // The first line may have been partly in the page already when the observer started: it does not count.
                return ([.. seen.Skip(1).Take(lines).Select(Delay)], null);
            }
            finally
            {
                try
                {
                    Call(http, HttpMethod.Delete, $"session/{session}", null);
                }
                catch (Exception e) when (e is HttpRequestException or InvalidOperationException or TaskCanceledException)
                {
                }
            }
        }
        finally
        {
            Shell.Stop(driver, TimeSpan.FromSeconds(10));
        }
    }

    private static double Delay(string entry)
    {
        var parts = entry.Split(' ');
        var shown = double.Parse(parts[0], CultureInfo.InvariantCulture);
        var written = long.Parse(parts[1], CultureInfo.InvariantCulture) / 1e6;
        return shown - written;
    }

    private static int WaitForPort(string log, Process driver)
    {
        const string Marker = "started successfully on port ";
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(30))
        {
            var text = File.Exists(log) ? File.ReadAllText(log) : "";
            var at = text.IndexOf(Marker, StringComparison.Ordinal);
            if (at >= 0)
            {
                var digits = new string([.. text[(at + Marker.Length)..].TakeWhile(char.IsAsciiDigit)]);
                return int.Parse(digits, CultureInfo.InvariantCulture);
            }
            if (driver.HasExited)
            {
                throw new InvalidOperationException($"chromedriver exited: {text}");
            }
            Thread.Sleep(100);
        }
        throw new InvalidOperationException("chromedriver did not say its port within 30 s");
    }

    private static void Go(HttpClient http, string session, string url) =>
        Call(http, HttpMethod.Post, $"session/{session}/url", new JsonObject { ["url"] = url });

    private static JsonElement Script(HttpClient http, string session, string script, params string[] args) =>
        Call(http, HttpMethod.Post, $"session/{session}/execute/sync",
            new JsonObject { ["script"] = script, ["args"] = new JsonArray([.. args.Select(a => (JsonNode)JsonValue.Create(a))]) });

    private static void Until(HttpClient http, string session, string script, TimeSpan timeout, string what)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < timeout)
        {
            try
            {
                if (Script(http, session, script).ValueKind == JsonValueKind.True)
                {
                    return;
                }
            }
            catch (InvalidOperationException)
            {
                // The page is between two documents (the login's redirect): ask again.
            }
            Thread.Sleep(100);
        }
        throw new InvalidOperationException($"the browser did not show {what} within {timeout.TotalSeconds:0} s");
    }

    /// <summary>One WebDriver command; its "value", or an error with WebDriver's message.</summary>
    private static JsonElement Call(HttpClient http, HttpMethod method, string path, JsonNode? body)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }
        using var response = http.Send(request);
        var text = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
        using var doc = JsonDocument.Parse(text);
        var value = doc.RootElement.GetProperty("value").Clone();
        if (!response.IsSuccessStatusCode)
        {
            var message = value.ValueKind == JsonValueKind.Object && value.TryGetProperty("message", out var m) ? m.GetString() : text;
            throw new InvalidOperationException($"WebDriver {method} /{path}: {(int)response.StatusCode} {message?.Split('\n')[0]}");
        }
        return value;
    }
}
