using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Xunit;

namespace Belay.TestSupport;

/// <summary>One Server-Sent Event as received: its type, id and data.</summary>
public sealed record SseEvent(string Type, string? Id, string Data)
{
    public JsonElement Json
    {
        get
        {
            using var doc = JsonDocument.Parse(Data);
            return doc.RootElement.Clone();
        }
    }
}

/// <summary>
/// Reads a hub's live log stream (GET /api/v1/hosts/{id}/logs/{program}) as an operator would
/// with curl, and keeps every event. It can read slowly on purpose (<see cref="BytesPerSecond"/>),
/// which is how the tests make a slow reader: the hub then holds back credit and the agent drops.
/// </summary>
public sealed class SseClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<SseEvent> _events = [];
    private readonly Task _reading;

    public SseClient(Uri hub, string apiToken, string path, long? bytesPerSecond = null, string? lastEventId = null)
    {
        BytesPerSecond = bytesPerSecond;
        _http = new HttpClient { BaseAddress = hub, Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiToken);
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }
        _reading = Task.Run(() => ReadAsync(request));
    }

    public long? BytesPerSecond { get; }

    public IReadOnlyList<SseEvent> Events
    {
        get
        {
            lock (_events)
            {
                return [.. _events];
            }
        }
    }

    public string Text => string.Concat(Events.Where(e => e.Type == "data").Select(e => e.Json.GetProperty("t").GetString()));

    public long Skipped => Events.Where(e => e.Type == "skip").Sum(e => e.Json.GetProperty("n").GetInt64());

    public bool Ended => Events.Any(e => e.Type == "end");

    /// <summary>Waits until the events satisfy <paramref name="done"/>.</summary>
    public void WaitFor(Func<IReadOnlyList<SseEvent>, bool> done, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (done(Events))
            {
                return;
            }
            if (_reading.IsCompleted && !done(Events))
            {
                break;
            }
            Thread.Sleep(50);
        }
        Assert.Fail($"the log stream did not show {what} within {timeout.TotalSeconds:0} s; events: {string.Join(" | ", Events.TakeLast(20).Select(e => $"{e.Type} {e.Id} {Clip(e.Data)}"))}{(_reading.Exception is { } x ? "\n" + x : "")}");
    }

    private static string Clip(string s) => s.Length > 200 ? s[..200] + "…" : s;

    private async Task ReadAsync(HttpRequestMessage request)
    {
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, _stop.Token);
            if (!response.IsSuccessStatusCode)
            {
                lock (_events)
                {
                    _events.Add(new SseEvent("http-error", null, $"{{\"status\":{(int)response.StatusCode}}}"));
                }
                return;
            }
            await using var body = await response.Content.ReadAsStreamAsync(_stop.Token);
            var buffer = new byte[BytesPerSecond is { } rate ? (int)Math.Clamp(rate / 10, 1, 4096) : 16 * 1024];
            var pending = new StringBuilder();
            var decoder = Encoding.UTF8.GetDecoder();
            var chars = new char[buffer.Length + 4];
            while (!_stop.IsCancellationRequested)
            {
                var n = await body.ReadAsync(buffer, _stop.Token);
                if (n == 0)
                {
                    return;
                }
                var c = decoder.GetChars(buffer, 0, n, chars, 0);
                pending.Append(chars, 0, c);
                Parse(pending);
                if (BytesPerSecond is { } bps)
                {
                    await Task.Delay(TimeSpan.FromSeconds((double)n / bps), _stop.Token);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or HttpRequestException or IOException)
        {
        }
    }

    private void Parse(StringBuilder pending)
    {
        while (true)
        {
            var text = pending.ToString();
            var end = text.IndexOf("\n\n", StringComparison.Ordinal);
            if (end < 0)
            {
                return;
            }
            var block = text[..end];
            pending.Remove(0, end + 2);
            string type = "message";
            string? id = null;
            var data = new StringBuilder();
            foreach (var line in block.Split('\n'))
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    type = line["event: ".Length..];
                }
                else if (line.StartsWith("id: ", StringComparison.Ordinal))
                {
                    id = line["id: ".Length..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    data.Append(line["data: ".Length..]);
                }
            }
            if (data.Length > 0)
            {
                lock (_events)
                {
                    _events.Add(new SseEvent(type, id, data.ToString()));
                }
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _reading.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
        _http.Dispose();
        _stop.Dispose();
    }
}
