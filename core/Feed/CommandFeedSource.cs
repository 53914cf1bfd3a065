using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Belay.Core.Feed;

/// <summary>
/// Reads an http(s):// feed by running curl or, where there is no curl, wget: what `belay` does
/// on Linux, macOS and SmartOS, which is published without HttpClient and TLS of its own
/// (<see cref="HttpFeature"/>). These are the tools install.sh has just downloaded `belay` with,
/// so the one-liner's host has one of them. Every other rule of <see cref="HttpFeedSource"/>
/// holds: the same paths only, the same caps (counted here, on what the tool writes, and asked of
/// curl before the body with <c>--max-filesize</c>), the same deadlines and minimum throughput
/// (<see cref="TransferGuard"/>, which ends the tool when they pass), at most five redirects and
/// none from https to plain http (curl; wget has no such switch, and the feed's signatures
/// are what a host trusts either way), no decompression, the proxies of the environment. What is
/// fetched is checked exactly as before: signatures, pinned hashes and sizes.
/// </summary>
public sealed class CommandFeedSource : FeedSource
{
    private readonly Uri _base;
    private readonly Func<FetchTool> _tool;
    private FetchTool? _found;
    private readonly Dictionary<string, (byte[] Content, string? ETag)> _prefetched = new(StringComparer.Ordinal);

    public CommandFeedSource(Uri baseUri, FetchTool? tool = null)
    {
        ArgumentNullException.ThrowIfNull(baseUri);
        if (baseUri.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"not an http(s) URL: {baseUri}", nameof(baseUri));
        }
        _base = baseUri.AbsoluteUri.EndsWith('/') ? baseUri : new Uri(baseUri.AbsoluteUri + "/");
        _found = tool;
        _tool = () => FetchTool.Require($"reading the feed at {_base.AbsoluteUri}");
    }

    /// <summary>The tool this source runs (looked up on PATH at the first fetch).</summary>
    public FetchTool Tool => _found ??= _tool();

    public override string Location => _base.AbsoluteUri;

    public override string Describe(string relativePath) => new Uri(_base, relativePath).AbsoluteUri;

    public override Task<long> CopyToAsync(string relativePath, Stream destination, long maxBytes, CancellationToken cancellationToken) =>
        CopyAsync(relativePath, destination, maxBytes, Limits.DeadlineFor(maxBytes), cancellationToken);

    public override Task<long> CopyArtifactAsync(string relativePath, Stream destination, long maxBytes, CancellationToken cancellationToken) =>
        CopyAsync(relativePath, destination, maxBytes, Limits.ArtifactDeadline, cancellationToken);

    private async Task<long> CopyAsync(string relativePath, Stream destination, long maxBytes, TimeSpan deadline, CancellationToken cancellationToken)
    {
        var url = Url(relativePath);
        if (TakePrefetched(relativePath, maxBytes) is { } ready)
        {
            await destination.WriteAsync(ready.Content, cancellationToken).ConfigureAwait(false);
            return ready.Content.Length;
        }
        var (response, bytes) = await RunAsync(url, null, destination, maxBytes, deadline, cancellationToken).ConfigureAwait(false);
        Check(url, response, maxBytes, missingIsNull: false);
        return bytes;
    }

    public override async Task<FetchResult> FetchAsync(string relativePath, string? etag, long maxBytes, CancellationToken cancellationToken) =>
        await FetchCoreAsync(relativePath, etag, maxBytes, missingIsNull: false, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("unreachable: a 404 throws when missingIsNull is false");

    public override Task<FetchResult?> FetchIfPresentAsync(string relativePath, string? etag, long maxBytes, CancellationToken cancellationToken) =>
        FetchCoreAsync(relativePath, etag, maxBytes, missingIsNull: true, cancellationToken);

    private async Task<FetchResult?> FetchCoreAsync(string relativePath, string? etag, long maxBytes, bool missingIsNull, CancellationToken cancellationToken)
    {
        var url = Url(relativePath);
        if (etag is null && TakePrefetched(relativePath, maxBytes) is { } ready)
        {
            return new FetchResult(ready.Content, ready.ETag);
        }
        using var buffer = new MemoryStream();
        var (response, _) = await RunAsync(url, etag, buffer, maxBytes, Limits.DeadlineFor(maxBytes), cancellationToken).ConfigureAwait(false);
        if (response.Status == 304)
        {
            return new FetchResult(null, etag);
        }
        if (!Check(url, response, maxBytes, missingIsNull))
        {
            return null;
        }
        return new FetchResult(buffer.ToArray(), response.ETag);
    }

    public override async Task<DateTimeOffset?> ServerDateAsync(CancellationToken cancellationToken)
    {
        var url = Url(FeedLayout.RootFile);
        var (response, _) = await RunAsync(url, null, Stream.Null, MetadataLimit, Limits.MetadataDeadline, cancellationToken).ConfigureAwait(false);
        Check(url, response, MetadataLimit, missingIsNull: false);
        return response.Date;
    }

    /// <summary>
    /// One curl run for all of <paramref name="files"/>, over one connection (<c>--next</c> between them): their bodies
    /// one after another on its output, under the sum of their caps, and after each a line on its error output with
    /// the transfer's exit code, status and size (<c>-w %{stderr}</c> and <c>%{exitcode}</c>, curl 7.75 and later; an
    /// older curl prints no such line, and nothing is kept) that cuts them apart. A file that answered
    /// 200 within its cap is kept for its one read; anything else (an error, a stall, a size over the cap, an older
    /// curl, wget) leaves nothing kept, and that file's read fetches it alone with all of its checks.
    /// </summary>
    public override async Task PrefetchAsync(IReadOnlyList<(string Path, long MaxBytes)> files, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(files);
        _prefetched.Clear();
        var tool = Tool;
        if (tool.Name != "curl" || files.Count < 2 || files.Any(f => !FeedLayout.IsSafeRelativePath(f.Path)))
        {
            return;
        }
        var args = new List<string>();
        foreach (var (path, maxBytes) in files)
        {
            if (args.Count > 0)
            {
                args.Add("--next");
            }
            var one = tool.GetArguments(Url(path), null, maxBytes, _base.Scheme == Uri.UriSchemeHttp);
            args.AddRange(one.Take(one.Count - 1));
            args.AddRange(["--write-out", "%{stderr}belay-fetched %{exitcode} %{http_code} %{size_download}\\n", one[^1]]);
        }
        var cap = files.Sum(f => f.MaxBytes);
        using var bodies = new MemoryStream();
        string stderr;
        try
        {
            var (response, _) = await tool.RunAsync(args, null, bodies, cap, Limits, Limits.MetadataDeadline, Location, cancellationToken, keepStderr: true)
                .ConfigureAwait(false);
            stderr = response.Stderr ?? "";
        }
        catch (BelayException) when (!cancellationToken.IsCancellationRequested)
        {
            return;
        }
        var content = bodies.GetBuffer();
        var offset = 0L;
        var index = 0;
        var block = new StringBuilder();
        foreach (var line in stderr.Split('\n'))
        {
            if (!line.StartsWith("belay-fetched ", StringComparison.Ordinal))
            {
                block.Append(line).Append('\n');
                continue;
            }
            var parts = line.Split(' ');
            if (index >= files.Count || parts.Length != 4
                || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var exit)
                || !int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var status)
                || !long.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out var size)
                || size > bodies.Length - offset)
            {
                _prefetched.Clear();
                return;
            }
            var (path, maxBytes) = files[index];
            // Kept only when this transfer itself ended well (its own exit code: a body cut short, a size over
            // --max-filesize or a reset is not kept, and its read then fails or succeeds on its own).
            if (exit == 0 && status == 200 && size <= maxBytes)
            {
                var headers = ToolResponse.Parse(tool.Name, 0, block.ToString());
                if (headers.Status == 200)
                {
                    _prefetched[path] = (content.AsSpan((int)offset, (int)size).ToArray(), headers.ETag);
                }
            }
            offset += size;
            index++;
            block.Clear();
        }
        if (index != files.Count || offset != bodies.Length)
        {
            _prefetched.Clear();
        }
    }

    private (byte[] Content, string? ETag)? TakePrefetched(string relativePath, long maxBytes) =>
        _prefetched.Remove(relativePath, out var entry) && entry.Content.Length <= maxBytes ? entry : null;

    private Uri Url(string relativePath) =>
        FeedLayout.IsSafeRelativePath(relativePath)
            ? new Uri(_base, relativePath)
            : throw BelayException.Trust($"refusing feed path '{relativePath}': it is not a plain relative path inside the feed");

    private Task<(ToolResponse Response, long Bytes)> RunAsync(Uri url, string? etag, Stream destination, long maxBytes, TimeSpan deadline,
        CancellationToken cancellationToken)
    {
        var tool = Tool;
        return tool.RunAsync(tool.GetArguments(url, etag, maxBytes, _base.Scheme == Uri.UriSchemeHttp), null, destination, maxBytes,
            Limits, deadline, url.AbsoluteUri, cancellationToken);
    }

    /// <summary>True for content; false for a 404 when <paramref name="missingIsNull"/>; throws for everything else.</summary>
    private bool Check(Uri url, ToolResponse response, long maxBytes, bool missingIsNull)
    {
        if (response.Status == 404)
        {
            return missingIsNull ? false : throw new FeedFileNotFoundException(url.AbsoluteUri, null);
        }
        if (response.Status is >= 400)
        {
            throw BelayException.Unreachable($"{url} answered {response.Status} {response.Reason}".TrimEnd());
        }
        if (response.TooLarge)
        {
            // curl refused it from its Content-Length, before reading the body.
            throw BelayException.Trust($"{url} announces more than the {maxBytes} bytes allowed ({response.Describe(Tool)}); refusing it");
        }
        if (response.ExitCode != 0)
        {
            throw BelayException.Unreachable($"cannot reach {url}: {response.Describe(Tool)}");
        }
        if (response.Status is { } status and not (>= 200 and < 300))
        {
            throw BelayException.Unreachable($"{url} answered {status} {response.Reason}".TrimEnd());
        }
        return true;
    }
}

/// <summary>What one run of curl or wget said about its request: exit code, the last response's status and headers, the error line.</summary>
public sealed record ToolResponse(int ExitCode, int? Status, string? Reason, string? ETag, DateTimeOffset? Date, string? Error)
{
    /// <summary>All the tool wrote on standard error, when the caller asked to keep it.</summary>
    public string? Stderr { get; init; }

    /// <summary>curl refused the body before reading it: its Content-Length is over <c>--max-filesize</c> (exit 63).</summary>
    public bool TooLarge { get; init; }

    /// <summary>curl could not verify the server's certificate, or TLS failed (exit 35, 51, 58, 60, 77, 83, 90, 91).</summary>
    public bool TlsFailure { get; init; }

    /// <summary>What went wrong in the words HttpClient's failures get (SystemErrors), then the tool's own line.</summary>
    public string Describe(FetchTool tool)
    {
        ArgumentNullException.ThrowIfNull(tool);
        var own = Error is { Length: > 0 } error ? error : $"{tool.Name} ended with exit code {ExitCode}";
        var words = tool.Name != "curl" ? null : ExitCode switch
        {
            5 => "the proxy's host was not found",
            6 => "host not found",
            7 => "cannot connect",
            18 or 52 => "the server closed the connection before the whole response arrived",
            28 => "timed out",
            47 => "too many redirects",
            1 => "a redirect to a scheme that is not allowed (an https feed is never followed to plain http)",
            8 => "the server's answer is not valid HTTP",
            56 => "the connection was reset",
            97 => "the proxy refused the connection",
            _ when TlsFailure => "the TLS handshake failed (check the server's certificate and this host's clock and CA certificates)",
            _ => null,
        };
        return words is null ? own : $"{words} ({own})";
    }

    /// <summary>
    /// Reads what curl (<c>--dump-header /dev/stderr</c>) or wget (<c>-S</c>) wrote on standard error: status
    /// lines ("HTTP/1.1 200 OK", indented by wget), headers, and the tool's own error line. The last response
    /// counts (redirects come before it).
    /// </summary>
    public static ToolResponse Parse(string tool, int exitCode, string stderr)
    {
        ArgumentNullException.ThrowIfNull(stderr);
        int? status = null;
        string? reason = null, etag = null, error = null;
        DateTimeOffset? date = null;
        foreach (var raw in stderr.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith("HTTP/", StringComparison.Ordinal))
            {
                var parts = line.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length >= 2 && parts[1].Length == 3 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var code))
                {
                    status = code;
                    reason = parts.Length == 3 ? parts[2] : null;
                    etag = null;
                    date = null;
                }
                continue;
            }
            if (line.StartsWith(tool + ": ", StringComparison.Ordinal))
            {
                error = line;
                continue;
            }
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }
            var name = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            if (name.Equals("ETag", StringComparison.OrdinalIgnoreCase) && value.Length > 0)
            {
                etag = value;
            }
            else if (name.Equals("Date", StringComparison.OrdinalIgnoreCase)
                && DateTimeOffset.TryParseExact(value, "r", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
            {
                date = parsed;
            }
        }
        return new ToolResponse(exitCode, status, reason, etag, date, error)
        {
            TooLarge = tool == "curl" && exitCode == 63,
            TlsFailure = tool == "curl" && exitCode is 35 or 51 or 58 or 60 or 77 or 83 or 90 or 91,
        };
    }
}

/// <summary>
/// curl or wget, found on PATH, and how Belay runs it: arguments as a list (no shell), nothing read from
/// a .curlrc (<c>-q</c>), headers and errors on standard error, the body on standard output, read here
/// under the caps and deadlines of a <see cref="TransferGuard"/>.
/// </summary>
public sealed record FetchTool(string Name, string Path)
{
    /// <summary>busybox's wget (a link to busybox): fewer options than GNU's, and no retries to turn off.</summary>
    public bool IsBusybox { get; init; }

    private const int MaxStderr = 256 * 1024;

    /// <summary>curl, else wget, from <paramref name="searchPath"/> (PATH when null); null when there is neither.</summary>
    public static FetchTool? Find(string? searchPath = null)
    {
        var path = searchPath ?? Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin";
        foreach (var name in new[] { "curl", "wget" })
        {
            foreach (var dir in path.Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            {
                var candidate = System.IO.Path.Combine(dir, name);
                if (File.Exists(candidate) && (OperatingSystem.IsWindows()
                    || (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0))
                {
                    return new FetchTool(name, candidate) { IsBusybox = name == "wget" && IsBusyboxLink(candidate) };
                }
            }
        }
        return null;
    }

    private static bool IsBusyboxLink(string path)
    {
        try
        {
            return File.ResolveLinkTarget(path, returnFinalTarget: true) is { } target
                && System.IO.Path.GetFileName(target.FullName).StartsWith("busybox", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    public static FetchTool Require(string what) =>
        Find() ?? throw new BelayException(
            $"{what} needs curl or wget on PATH (this belay leaves HTTP to them, as install.sh does); install curl, or give a feed folder or file:// URL");

    /// <summary>
    /// The arguments of a GET. curl: fail on an HTTP error without writing its body, five redirects at most, only
    /// https (plus http when the feed itself is plain http), <paramref name="maxBytes"/> refused from the
    /// Content-Length on. wget: the options busybox's wget has too.
    /// </summary>
    public IReadOnlyList<string> GetArguments(Uri url, string? etag, long maxBytes, bool allowPlainHttp)
    {
        ArgumentNullException.ThrowIfNull(url);
        var args = new List<string>();
        var conditional = etag is { Length: > 0 } && !etag.Any(char.IsControl) ? "If-None-Match: " + etag : null;
        if (Name == "curl")
        {
            var protocols = allowPlainHttp ? "=http,https" : "=https";
            args.AddRange(["-q", "--silent", "--show-error", "--fail", "--location", "--max-redirs", "5", "--proto", protocols, "--proto-redir", protocols, "--tlsv1.2",
                "--connect-timeout", "15", "--max-filesize", maxBytes.ToString(CultureInfo.InvariantCulture), "--user-agent", "belay",
                "--dump-header", "/dev/stderr", "--output", "-"]);
            if (conditional is not null)
            {
                args.AddRange(["--header", conditional]);
            }
        }
        else
        {
            args.AddRange(["-q", "-S", "-O", "-", "-U", "belay"]);
            if (!IsBusybox)
            {
                // GNU wget retries a broken transfer twenty times by default; the caller's next check is the retry.
                // (busybox 1.35's wget crashes on -T; the deadlines here end it anyway.)
                // No wgetrc either (GNU wget reads /etc/wgetrc and ~/.wgetrc, which could turn certificate checks off).
                args.InsertRange(0, ["--no-config"]);
                args.AddRange(["--timeout=30", "--tries=1", "--max-redirect=5"]);
            }
            if (conditional is not null)
            {
                args.AddRange(["--header", conditional]);
            }
        }
        args.Add(url.AbsoluteUri);
        return args;
    }

    /// <summary>
    /// Runs the tool with <paramref name="arguments"/> (and <paramref name="input"/> on its standard input), copying its
    /// standard output into <paramref name="destination"/>, at most <paramref name="maxBytes"/>, under
    /// <paramref name="limits"/>: the tool is ended when a limit passes, when the cap is exceeded, or on cancellation.
    /// </summary>
    public async Task<(ToolResponse Response, long Bytes)> RunAsync(IReadOnlyList<string> arguments, byte[]? input, Stream destination, long maxBytes,
        TransferLimits limits, TimeSpan deadline, string what, CancellationToken cancellationToken, bool keepStderr = false)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(limits);
        var start = new ProcessStartInfo(Path)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var guard = new TransferGuard(limits, deadline, what, cancellationToken);
        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            throw new BelayException($"cannot run {Path} for {what}: {e.Message}", e);
        }
        var stderr = ReadTextAsync(process.StandardError.BaseStream);
        long bytes;
        try
        {
            using var stop = guard.BeginWait().Register(() => End(process));
            var writing = WriteInputAsync(process, input);
            bytes = await FeedSource.CopyCappedAsync(process.StandardOutput.BaseStream, destination, maxBytes, what, guard, cancellationToken).ConfigureAwait(false);
            await writing.ConfigureAwait(false);
            try
            {
                await process.WaitForExitAsync(guard.BeginWait()).ConfigureAwait(false);
            }
            catch (Exception e) when (guard.TimedOut(e))
            {
                throw guard.Failure(e);
            }
        }
        catch
        {
            End(process);
            throw;
        }
        var text = await stderr.ConfigureAwait(false);
        return (ToolResponse.Parse(Name, process.ExitCode, text) with { Stderr = keepStderr ? text : null }, bytes);
    }

    private static async Task WriteInputAsync(Process process, byte[]? input)
    {
        try
        {
            if (input is not null)
            {
                await process.StandardInput.BaseStream.WriteAsync(input).ConfigureAwait(false);
            }
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The tool ended before it read everything; its exit code says why.
        }
    }

    private static async Task<string> ReadTextAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int n;
        while ((n = await stream.ReadAsync(chunk).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length < MaxStderr)
            {
                buffer.Write(chunk, 0, (int)Math.Min(n, MaxStderr - buffer.Length));
            }
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static void End(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or Win32Exception)
        {
            // Already gone.
        }
    }
}
