using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Belay.Core.Hub;
using Xunit;

namespace Belay.TestSupport;

/// <summary>
/// A stand-in agent that speaks the hub protocol by hand (or breaks it on purpose): enrolls with a
/// token, connects, sends frames, and records what the hub sends and how it closed. For the hostile
/// input tests and the many-agents benchmark; the real agent is tested end to end elsewhere.
/// </summary>
public sealed class FakeAgent : IDisposable
{
    private readonly ClientWebSocket _socket = new();
    private readonly List<string> _received = [];
    private Task? _receiving;

    private FakeAgent(string hostId, string credential)
    {
        HostId = hostId;
        Credential = credential;
    }

    public string HostId { get; }
    public string Credential { get; }
    public WebSocketCloseStatus? CloseStatus => _socket.CloseStatus;
    public string? CloseDescription => _socket.CloseStatusDescription;
    public WebSocketState State => _socket.State;

    public IReadOnlyList<string> Received
    {
        get
        {
            lock (_received)
            {
                return [.. _received];
            }
        }
    }

    public static async Task<EnrollResponse> EnrollAsync(Uri hub, string token, string hostname)
    {
        using var http = new HttpClient { BaseAddress = hub };
        using var response = await http.PostAsJsonAsync("agent/v1/enroll", new EnrollRequest { Token = token, Host = new HelloHost { Hostname = hostname, Id = hostname } },
            HubJsonContext.Default.EnrollRequest);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"enroll: {(int)response.StatusCode} {body}");
        return JsonSerializer.Deserialize(body, HubJsonContext.Default.EnrollResponse)!;
    }

    /// <summary>Enrolls and connects, and says hello.</summary>
    public static async Task<FakeAgent> ConnectAsync(Uri hub, string token, string hostname)
    {
        var enrolled = await EnrollAsync(hub, token, hostname);
        var agent = new FakeAgent(enrolled.HostId, enrolled.Credential);
        await agent.OpenAsync(hub);
        await agent.SendAsync(HubMessages.Serialize(new Hello { Version = "0.0.0-fake", Rid = "linux-x64", Host = new HelloHost { Hostname = hostname, Id = hostname } },
            HubJsonContext.Default.Hello));
        return agent;
    }

    public async Task OpenAsync(Uri hub)
    {
        _socket.Options.SetRequestHeader("Authorization", "Bearer " + Credential);
        var ws = new UriBuilder(new Uri(hub, "agent/v1/connect")) { Scheme = hub.Scheme == "https" ? "wss" : "ws" }.Uri;
        await _socket.ConnectAsync(ws, CancellationToken.None);
        _receiving = Task.Run(ReceiveAsync);
    }

    public Task SendAsync(byte[] frame) => _socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);

    public Task SendAsync(string json) => SendAsync(Encoding.UTF8.GetBytes(json));

    public Task SendStateAsync(string stateJson) => SendAsync(HubMessages.StateFrame(Encoding.UTF8.GetBytes(stateJson)));

    /// <summary>Waits until the hub closed the connection; its close status, or null when it stayed open.</summary>
    public async Task<WebSocketCloseStatus?> ClosedAsync(TimeSpan timeout)
    {
        if (_receiving is { } receiving)
        {
            await Task.WhenAny(receiving, Task.Delay(timeout));
        }
        return _socket.State is WebSocketState.Open ? null : _socket.CloseStatus ?? (WebSocketCloseStatus)0;
    }

    /// <summary>Waits for a message from the hub that contains <paramref name="fragment"/>.</summary>
    public async Task<string> WaitForAsync(string fragment, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var found = Received.FirstOrDefault(m => m.Contains(fragment, StringComparison.Ordinal));
            if (found is not null)
            {
                return found;
            }
            await Task.Delay(50);
        }
        Assert.Fail($"no message with {fragment} within {timeout.TotalSeconds:0} s; got: {string.Join(" | ", Received)}");
        return "";
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[128 * 1024];
        try
        {
            while (_socket.State == WebSocketState.Open)
            {
                var length = 0;
                WebSocketReceiveResult result;
                do
                {
                    result = await _socket.ReceiveAsync(new ArraySegment<byte>(buffer, length, buffer.Length - length), CancellationToken.None);
                    length += result.Count;
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
                lock (_received)
                {
                    _received.Add(Encoding.UTF8.GetString(buffer, 0, length));
                }
            }
        }
        catch (WebSocketException)
        {
        }
    }

    public void Dispose() => _socket.Dispose();
}
