using System.Net.Sockets;
using System.Text;
using Belay.Core.IO;

namespace Belay.Core.Install;

/// <summary>
/// The keeper's control channel: a Unix domain socket in the state folder (mode 0700, so
/// only the installation's owner can reach it), one request line and one reply line per
/// connection. On Windows the same path names a local named pipe with an owner-only DACL
/// instead (<see cref="NamedPipeChannel"/>). The agent's channel (state/agent.sock) is the same kind. The agent uses it to report readiness (READY) and to ask for a switch to a
/// staged version (SWITCH v); the operator's CLI to ask for a rollback (ROLLBACK) or the
/// keeper's view (STATUS).
/// </summary>
public static class KeeperChannel
{
    /// <summary>The environment variable through which the keeper tells the agent where the channel is.</summary>
    public const string SocketVariable = "BELAY_KEEPER_SOCKET";

    /// <summary>The version folder the keeper started the agent from: the version it reports as.</summary>
    public const string VersionVariable = "BELAY_AGENT_VERSION";

    /// <summary>The keeper's process id, which the agent reports to its hub (on Windows it has no parent pid to read).</summary>
    public const string KeeperPidVariable = "BELAY_KEEPER_PID";

    /// <summary>
    /// Set to 1 for the agent on Unix: the runtime then runs a socket's completions on its socket engine's thread
    /// instead of handing each to the thread pool, so that a poll answered on a kept connection wakes that one
    /// thread, not a pool worker and the pool's gate thread (docs/architecture.md, "Footprint"). The runtime reads
    /// it from the environment only, once, so the keeper sets it; the agent never blocks its continuations on a socket.
    /// </summary>
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>One socket engine thread for the agent (with inline completions the runtime would start one per core).</summary>
    public const string SocketThreadsVariable = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";

    /// <summary>Every variable the keeper sets for its agent: meant for the agent only, so programs and hooks do not inherit them.</summary>
    public static readonly string[] Variables = [SocketVariable, VersionVariable, KeeperPidVariable, InlineCompletionsVariable, SocketThreadsVariable];

    /// <summary>What the keeper puts into its agent's environment (on top of its own).</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> AgentEnvironment(string socketPath, string version, int keeperPid, bool unix) =>
    [
        new(SocketVariable, socketPath),
        new(VersionVariable, version),
        new(KeeperPidVariable, keeperPid.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        .. unix ? new KeyValuePair<string, string>[] { new(InlineCompletionsVariable, "1"), new(SocketThreadsVariable, "1") } : [],
    ];

    public const int MaxLine = 64 * 1024;

    /// <summary>Sends one request and returns the reply line; throws when the keeper cannot be reached.</summary>
    public static async Task<string> SendAsync(string socketPath, string request, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await using var stream = await ConnectAsync(socketPath, cts.Token).ConfigureAwait(false);
            await stream.WriteAsync(Encoding.UTF8.GetBytes(request + "\n"), cts.Token).ConfigureAwait(false);
            await stream.FlushAsync(cts.Token).ConfigureAwait(false);
            return await ReadLineAsync(stream, cts.Token).ConfigureAwait(false)
                ?? throw new BelayException($"the other end of {socketPath} closed the channel without answering. Is it running? (belay status)");
        }
        catch (Exception e) when (e is SocketException or IOException or TimeoutException or UnauthorizedAccessException
            or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            var why = e is OperationCanceledException ? $"no answer within {timeout.TotalSeconds:0} s" : SystemErrors.Describe(e);
            throw new BelayException($"cannot reach the keeper at {socketPath}: {why}. Is it running? (belay status)", e);
        }
    }

    /// <summary>Whether a server listens at <paramref name="socketPath"/> (the socket file is there; on Windows, the pipe is).</summary>
    public static bool Exists(string socketPath) =>
        OperatingSystem.IsWindows() ? NamedPipeChannel.Exists(socketPath) : File.Exists(socketPath);

    private static async Task<Stream> ConnectAsync(string socketPath, CancellationToken cancellationToken)
    {
        if (OperatingSystem.IsWindows())
        {
            return await NamedPipeChannel.ConnectAsync(socketPath, cancellationToken).ConfigureAwait(false);
        }
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Serves requests until cancelled; each reply comes from <paramref name="handle"/>.</summary>
    public static async Task ServeAsync(string socketPath, Func<string, Task<string>> handle, Action<string> log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentNullException.ThrowIfNull(log);
        if (OperatingSystem.IsWindows())
        {
            try
            {
                await NamedPipeChannel.ServeAsync(socketPath, stream => ServeOneAsync(stream, handle, log, cancellationToken), cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            return;
        }
        if (File.Exists(socketPath))
        {
            File.Delete(socketPath); // left by a keeper that died; the keeper's lock says we are alone
        }
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        listener.Listen(16);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var client = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
                _ = Task.Run(async () =>
                {
                    using (client)
                    {
                        await using var stream = new NetworkStream(client, ownsSocket: false);
                        await ServeOneAsync(stream, handle, log, cancellationToken).ConfigureAwait(false);
                    }
                }, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            try
            {
                File.Delete(socketPath);
            }
            catch (IOException)
            {
            }
        }
    }

    private static async Task ServeOneAsync(Stream stream, Func<string, Task<string>> handle, Action<string> log, CancellationToken cancellationToken)
    {
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(TimeSpan.FromSeconds(30));
            var line = await ReadLineAsync(stream, cts.Token).ConfigureAwait(false);
            if (line is null)
            {
                return;
            }
            var reply = await handle(line).ConfigureAwait(false);
            await stream.WriteAsync(Encoding.UTF8.GetBytes(reply.ReplaceLineEndings(" ") + "\n"), cts.Token).ConfigureAwait(false);
            await stream.FlushAsync(cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            log($"control channel: {SystemErrors.Describe(e)}");
        }
    }

    private static async Task<string?> ReadLineAsync(Stream stream, CancellationToken cancellationToken)
    {
        // In blocks, not a byte per read: under Wine each read of a named pipe is a round trip to its server, and
        // a status of many programs (several KiB) read a byte at a time took longer than the client waits. Each side
        // sends one line and then waits for the other, so a block never holds more than that line.
        var line = new MemoryStream();
        var block = new byte[4096];
        while (line.Length < MaxLine)
        {
            var n = await stream.ReadAsync(block, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return line.Length == 0 ? null : Encoding.UTF8.GetString(line.GetBuffer(), 0, (int)line.Length);
            }
            var end = Array.IndexOf(block, (byte)'\n', 0, n);
            line.Write(block, 0, end < 0 ? n : end);
            if (end >= 0)
            {
                return Encoding.UTF8.GetString(line.GetBuffer(), 0, (int)line.Length).TrimEnd('\r');
            }
        }
        throw new IOException($"request longer than {MaxLine} bytes");
    }
}
