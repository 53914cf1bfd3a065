using System.Net.Sockets;
using System.Text;
using Belay.Core.Services;
using Belay.TestSupport;

namespace Belay.Core.Tests.Services;

public sealed class SystemdNotifyTests
{
    private static string Receive(Socket socket)
    {
        var buffer = new byte[4096];
        socket.ReceiveTimeout = 5000;
        var n = socket.Receive(buffer);
        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    [Fact]
    public void ReadyAndWatchdogAreDatagramsToTheNotifySocket()
    {
        using var dir = new TempDir();
        var path = dir.Combine("notify");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        var env = new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = path, ["WATCHDOG_USEC"] = "20000000" };
        using var notify = new SystemdNotify(k => env.GetValueOrDefault(k));

        Assert.True(notify.Enabled);
        Assert.Equal(TimeSpan.FromSeconds(10), notify.WatchdogInterval);
        notify.Ready("agent 1.0.0 ready");
        Assert.Equal("READY=1\nSTATUS=agent 1.0.0 ready", Receive(listener));
        notify.Watchdog();
        Assert.Equal("WATCHDOG=1", Receive(listener));
        notify.Stopping();
        Assert.Equal("STOPPING=1", Receive(listener));
    }

    [Fact]
    public void WithoutNotifySocketNothingIsSent()
    {
        using var notify = new SystemdNotify(_ => null);
        Assert.False(notify.Enabled);
        Assert.Null(notify.WatchdogInterval);
        notify.Ready("ignored");
    }

    [Fact]
    public void AWatchdogMeantForAnotherProcessIsIgnored()
    {
        var env = new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = "/run/x", ["WATCHDOG_USEC"] = "1000000", ["WATCHDOG_PID"] = "1" };
        using var notify = new SystemdNotify(k => env.GetValueOrDefault(k));
        Assert.Null(notify.WatchdogInterval);
    }
}
