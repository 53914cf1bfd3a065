using System.IO.Pipes;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text;
using Belay.Core.IO.Windows;
using Microsoft.Win32.SafeHandles;

namespace Belay.Core.Install;

/// <summary>
/// The control channels' transport on Windows: a local named pipe in place of the Unix domain
/// socket (Wine has no AF_UNIX sockets, and a pipe's DACL is how Windows says "owner only"). The
/// socket's path still names the channel: the pipe is <c>\\.\pipe\belay-HASH</c>, HASH the first
/// 24 hex digits of the SHA-256 of the path in lower case, so every caller that knows the path
/// (the agent from BELAY_KEEPER_SOCKET, the CLI from the layout) reaches the same pipe.
/// Each instance is made by CreateNamedPipeW with a protected DACL for SYSTEM, Administrators and
/// the user the server runs as (the counterpart of the socket's 0700 folder), rejects remote
/// clients, and the first one is made with FILE_FLAG_FIRST_PIPE_INSTANCE: should another process
/// own the name already (one planted to answer in the keeper's place), the server fails to start
/// instead of sharing it.
/// </summary>
[SupportedOSPlatform("windows")]
internal static partial class NamedPipeChannel
{
    private const uint PipeAccessDuplex = 0x3;
    private const uint FileFlagFirstPipeInstance = 0x80000;
    private const uint FileFlagOverlapped = 0x40000000;
    private const uint PipeTypeByte = 0x0;
    private const uint PipeRejectRemoteClients = 0x8;
    private const uint PipeUnlimitedInstances = 255;
    private const int Buffer = 4096;

    /// <summary>The pipe's name (without \\.\pipe\) for a channel's socket path.</summary>
    public static string PipeName(string socketPath)
    {
        ArgumentNullException.ThrowIfNull(socketPath);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(socketPath).ToLowerInvariant()));
        return "belay-" + Convert.ToHexStringLower(hash)[..24];
    }

    /// <summary>Whether the channel's pipe exists (WaitNamedPipe answers at once when it does not, and within a moment when all its instances are busy).</summary>
    public static bool Exists(string socketPath)
    {
        if (WaitNamedPipe(@"\\.\pipe\" + PipeName(socketPath), 50) != 0)
        {
            return true;
        }
        return Marshal.GetLastPInvokeError() is not (2 or 3); // ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND: no pipe; a timeout: it is there, busy
    }

    public static async Task<Stream> ConnectAsync(string socketPath, CancellationToken cancellationToken)
    {
        var client = new NamedPipeClientStream(".", PipeName(socketPath), PipeDirection.InOut, PipeOptions.Asynchronous);
        try
        {
            await client.ConnectAsync(cancellationToken).ConfigureAwait(false);
            return client;
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Accepts connections until cancelled; each one goes to <paramref name="serve"/> on a task of its own.</summary>
    public static async Task ServeAsync(string socketPath, Func<Stream, Task> serve, CancellationToken cancellationToken)
    {
        var name = PipeName(socketPath);
        var first = true;
        while (!cancellationToken.IsCancellationRequested)
        {
            var server = Create(name, first);
            first = false;
            try
            {
                await server.WaitForConnectionAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await server.DisposeAsync().ConfigureAwait(false);
                throw;
            }
            _ = Task.Run(async () =>
            {
                await using (server.ConfigureAwait(false))
                {
                    await serve(server).ConfigureAwait(false);
                }
            }, CancellationToken.None);
        }
    }

    private static unsafe NamedPipeServerStream Create(string name, bool first)
    {
        var security = new NativeFileSecurity();
        var sddl = Sddl(security.CurrentUserSid());
        var descriptor = security.SecurityDescriptorFromSddl(sddl);
        if (descriptor == 0)
        {
            throw new IOException($"cannot build the security descriptor {sddl} for the pipe {name} (Windows error {security.LastError})");
        }
        try
        {
            var attributes = new SecurityAttributes { Length = (uint)sizeof(SecurityAttributes), Descriptor = descriptor, Inherit = 0 };
            var handle = CreateNamedPipe(@"\\.\pipe\" + name, PipeAccessDuplex | FileFlagOverlapped | (first ? FileFlagFirstPipeInstance : 0),
                PipeTypeByte | PipeRejectRemoteClients, PipeUnlimitedInstances, Buffer, Buffer, 0, &attributes);
            if (handle.IsInvalid)
            {
                var error = Marshal.GetLastPInvokeError();
                handle.Dispose();
                throw new IOException(first && error is 5 or 231
                    ? $"the pipe \\\\.\\pipe\\{name} is already open (Windows error {error}): another keeper or agent runs for this installation, or another process took its name"
                    : $"cannot create the pipe \\\\.\\pipe\\{name} (Windows error {error})");
            }
            return new NamedPipeServerStream(PipeDirection.InOut, isAsync: true, isConnected: false, handle);
        }
        finally
        {
            security.LocalFree(descriptor);
        }
    }

    /// <summary>SYSTEM, Administrators and the server's own user (when it is another), full access; nothing inherited.</summary>
    internal static string Sddl(string userSid) =>
        userSid is "S-1-5-18" or "S-1-5-32-544" ? "D:P(A;;GA;;;SY)(A;;GA;;;BA)" : $"D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;{userSid})";

    [StructLayout(LayoutKind.Sequential)]
    private struct SecurityAttributes
    {
        public uint Length;
        public nint Descriptor;
        public int Inherit;
    }

    [LibraryImport("kernel32.dll", EntryPoint = "WaitNamedPipeW", SetLastError = true, StringMarshalling = StringMarshalling.Utf16)]
    private static partial int WaitNamedPipe(string name, uint timeout);

    [LibraryImport("kernel32.dll", EntryPoint = "CreateNamedPipeW", SetLastError = true, StringMarshalling = StringMarshalling.Utf16)]
    private static unsafe partial SafePipeHandle CreateNamedPipe(string name, uint openMode, uint pipeMode, uint maxInstances, uint outBuffer, uint inBuffer,
        uint defaultTimeout, SecurityAttributes* attributes);
}
