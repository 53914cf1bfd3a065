using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Belay.Core.Services;

/// <summary>
/// sd_notify(3) without libsystemd: one datagram per message to $NOTIFY_SOCKET (a path, or
/// an abstract socket when it starts with '@'). The keeper sends READY=1 once the agent is
/// ready (Type=notify), STATUS= lines, STOPPING=1, and WATCHDOG=1 at half of
/// $WATCHDOG_USEC when the unit sets WatchdogSec. Without $NOTIFY_SOCKET every call does nothing.
/// </summary>
public sealed class SystemdNotify : IDisposable
{
    private readonly Socket? _socket;
    private readonly UnixDomainSocketEndPoint? _target;

    public SystemdNotify(Func<string, string?>? environment = null)
    {
        var env = environment ?? System.Environment.GetEnvironmentVariable;
        var path = env("NOTIFY_SOCKET");
        if (string.IsNullOrEmpty(path) || (path[0] != '/' && path[0] != '@'))
        {
            return;
        }
        _target = new UnixDomainSocketEndPoint(path[0] == '@' ? "\0" + path[1..] : path);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        if (long.TryParse(env("WATCHDOG_USEC"), NumberStyles.None, CultureInfo.InvariantCulture, out var usec) && usec > 0
            && (!int.TryParse(env("WATCHDOG_PID"), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == System.Environment.ProcessId))
        {
            WatchdogInterval = TimeSpan.FromTicks(usec * 10 / 2);
        }
    }

    /// <summary>True when a service manager listens.</summary>
    public bool Enabled => _socket is not null;

    /// <summary>How often to send WATCHDOG=1 (half the manager's timeout); null when no watchdog is set.</summary>
    public TimeSpan? WatchdogInterval { get; }

    public void Ready(string status) => Send($"READY=1\nSTATUS={status}");
    public void Status(string status) => Send($"STATUS={status}");
    public void Stopping() => Send("STOPPING=1");
    public void Watchdog() => Send("WATCHDOG=1");

    private void Send(string message)
    {
        if (_socket is null || _target is null)
        {
            return;
        }
        try
        {
            _socket.SendTo(Encoding.UTF8.GetBytes(message), _target);
        }
        catch (SocketException)
        {
            // The manager went away or the socket is full: nothing a keeper can do about it.
        }
    }

    public void Dispose() => _socket?.Dispose();
}
