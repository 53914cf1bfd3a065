using System.Net;
using System.Net.Http.Headers;
using Belay.Core.IO;

namespace Belay.Core.Feed;

/// <summary>
/// Reads files from a feed: a local directory, a file:// URL, or an http(s):// URL. Every
/// read is capped: a server can neither send more than the caller allows nor make the
/// client buffer an endless body.
/// </summary>
public abstract class FeedSource : IDisposable
{
    /// <summary>The cap on metadata documents (root.json, channel manifests, signatures).</summary>
    public const long MetadataLimit = 4 * 1024 * 1024;

    /// <summary>Where the feed is, as the user gave it.</summary>
    public abstract string Location { get; }

    /// <summary>A printable name for a file of the feed (its URL or path).</summary>
    public abstract string Describe(string relativePath);

    /// <summary>
    /// Copies a feed file into <paramref name="destination"/>, stopping with a trust failure
    /// past <paramref name="maxBytes"/>. Returns the number of bytes copied.
    /// </summary>
    public abstract Task<long> CopyToAsync(string relativePath, Stream destination, long maxBytes, CancellationToken cancellationToken);

    /// <summary>
    /// <see cref="CopyToAsync"/> for an artifact: the same cap, but the artifact deadline of
    /// <see cref="Limits"/> instead of the metadata one.
    /// </summary>
    public virtual Task<long> CopyArtifactAsync(string relativePath, Stream destination, long maxBytes, CancellationToken cancellationToken) =>
        CopyToAsync(relativePath, destination, maxBytes, cancellationToken);

    /// <summary>Deadlines and the minimum throughput every fetch is held to.</summary>
    public TransferLimits Limits { get; set; } = TransferLimits.Default;

    /// <summary>
    /// Reads a feed file unless it is unchanged since <paramref name="etag"/> (a conditional
    /// GET over HTTP; size and modification time for a folder). This is what keeps a poll
    /// every ten seconds cheap for the server: most answers are an empty 304.
    /// </summary>
    public abstract Task<FetchResult> FetchAsync(string relativePath, string? etag, long maxBytes, CancellationToken cancellationToken);

    /// <summary>
    /// As <see cref="FetchAsync"/>, but a file the feed does not have is null instead of a
    /// <see cref="FeedFileNotFoundException"/>. For a file polled every interval that may well not
    /// exist (the group document of a host whose group has none yet): an exception thrown and
    /// rethrown through the awaits at every poll was a third of an idle agent's instructions
    /// (docs/architecture.md, "Footprint").
    /// </summary>
    public virtual async Task<FetchResult?> FetchIfPresentAsync(string relativePath, string? etag, long maxBytes, CancellationToken cancellationToken)
    {
        try
        {
            return await FetchAsync(relativePath, etag, maxBytes, cancellationToken).ConfigureAwait(false);
        }
        catch (FeedFileNotFoundException)
        {
            return null;
        }
    }

    /// <summary>The Date header of the feed's answer for root.json (for `belay doctor`'s clock check); null where there is none (a folder).</summary>
    public virtual Task<DateTimeOffset?> ServerDateAsync(CancellationToken cancellationToken) => Task.FromResult<DateTimeOffset?>(null);

    /// <summary>
    /// A hint that <paramref name="files"/> (each with its cap) are about to be read, once each: a source that pays per
    /// request (a process per file) may fetch them together. Nothing is believed or refused here: a file that could not
    /// be fetched this way is fetched again, alone, when it is read, with every check of that read.
    /// </summary>
    public virtual Task PrefetchAsync(IReadOnlyList<(string Path, long MaxBytes)> files, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Channels the feed has, where the source can list them (directories only).</summary>
    public virtual IReadOnlyList<string>? ListChannels() => null;

    /// <summary>Groups the feed has documents for (groups/*.json), where the source can list them (directories only).</summary>
    public virtual IReadOnlyList<string>? ListGroups() => null;

    public async Task<byte[]> ReadAsync(string relativePath, long maxBytes, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await CopyToAsync(relativePath, buffer, maxBytes, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }

    /// <summary>Opens a feed given as a directory, a file:// URL or an http(s):// URL.</summary>
    public static FeedSource Open(string feed, HttpClient? http = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(feed);
        if (Uri.TryCreate(feed, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
        {
            // Without HttpClient in this executable (HttpFeature), curl or wget does the transfers.
            if (!HttpFeature.IsSupported)
            {
                return new CommandFeedSource(uri);
            }
            return new HttpFeedSource(uri, http);
        }
        if (uri is { IsFile: true } && feed.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
        {
            return new DirectoryFeedSource(uri.LocalPath);
        }
        if (Problem(feed) is { } problem)
        {
            throw new BelayException(ExitCodes.Usage, problem);
        }
        return new DirectoryFeedSource(feed);
    }

    /// <summary>
    /// Why <paramref name="feed"/> cannot be a feed's address, or null: a URL with a scheme Belay
    /// reads must also parse (a port from 1 to 65535, a host); any other scheme is refused.
    /// </summary>
    public static string? Problem(string feed)
    {
        ArgumentNullException.ThrowIfNull(feed);
        var schemeEnd = feed.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0)
        {
            return feed.Trim().Length == 0 ? "a feed is a URL or a folder; got an empty value" : null;
        }
        var scheme = feed[..schemeEnd].ToLowerInvariant();
        if (scheme is not ("http" or "https" or "file"))
        {
            return $"feed '{feed}' has a scheme Belay does not read ({scheme}://): use https://, http:// (loopback or trusted networks), file:// or a directory";
        }
        if (Uri.TryCreate(feed, UriKind.Absolute, out var uri) && (scheme == "file" || uri.Host.Length > 0))
        {
            return null;
        }
        var authority = feed[(schemeEnd + 3)..].Split('/', 2)[0];
        var colon = authority.LastIndexOf(':');
        if (colon >= 0 && authority.IndexOf(']', StringComparison.Ordinal) < colon)
        {
            var port = authority[(colon + 1)..];
            if (!int.TryParse(port, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number) || number is < 1 or > 65535)
            {
                return $"feed '{feed}': port '{port}' is not a port number (1 to 65535)";
            }
        }
        if (authority.Length == 0 || authority.StartsWith(':'))
        {
            return $"feed '{feed}' has no host name";
        }
        return $"feed '{feed}' is not a valid URL (like https://feed.example.com/ or http://127.0.0.1:8080/)";
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }

    protected static Task<long> CopyCappedAsync(Stream source, Stream destination, long maxBytes, string what, CancellationToken cancellationToken) =>
        CopyCappedAsync(source, destination, maxBytes, what, guard: null, cancellationToken);

    /// <summary>
    /// Copies at most <paramref name="maxBytes"/> (one byte more is read to tell "exactly" from
    /// "more"), each read held to the <paramref name="guard"/>'s stall window, deadline and
    /// minimum throughput.
    /// </summary>
    internal static async Task<long> CopyCappedAsync(Stream source, Stream destination, long maxBytes, string what, TransferGuard? guard,
        CancellationToken cancellationToken)
    {
        var buffer = new byte[81920];
        long total = 0;
        while (true)
        {
            var want = (int)Math.Min(buffer.Length, maxBytes + 1 - total);
            int n;
            if (guard is null)
            {
                n = await source.ReadAsync(buffer.AsMemory(0, Math.Max(want, 1)), cancellationToken).ConfigureAwait(false);
            }
            else
            {
                try
                {
                    n = await source.ReadAsync(buffer.AsMemory(0, Math.Max(want, 1)), guard.BeginWait()).ConfigureAwait(false);
                }
                catch (Exception e) when (guard.TimedOut(e))
                {
                    throw guard.Failure(e);
                }
                guard.Progress(n);
            }
            if (n == 0)
            {
                return total;
            }
            total += n;
            if (total > maxBytes)
            {
                throw BelayException.Trust($"{what} is larger than the {maxBytes} bytes allowed; refusing the rest");
            }
            await destination.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>A feed in a local directory (or behind a file:// URL), for publishing and air-gapped hosts.</summary>
public sealed class DirectoryFeedSource : FeedSource
{
    public DirectoryFeedSource(string directory)
    {
        Root = Path.GetFullPath(directory);
    }

    public string Root { get; }
    public override string Location => Root;

    public override string Describe(string relativePath) => Path.Combine(Root, relativePath);

    public override async Task<long> CopyToAsync(string relativePath, Stream destination, long maxBytes, CancellationToken cancellationToken)
    {
        if (!FeedLayout.IsSafeRelativePath(relativePath))
        {
            throw BelayException.Trust($"refusing feed path '{relativePath}': it is not a plain relative path inside the feed");
        }
        if (!Directory.Exists(Root))
        {
            throw BelayException.Unreachable($"feed directory {Root} does not exist (or is not mounted)");
        }
        var path = Describe(relativePath);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new FeedFileNotFoundException(path, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw BelayException.Unreachable($"cannot read {path}: {SystemErrors.Describe(e)}", e);
        }
        await using (stream.ConfigureAwait(false))
        {
            using var guard = new TransferGuard(Limits, Limits.DeadlineFor(maxBytes), path, cancellationToken);
            return await CopyCappedAsync(stream, destination, maxBytes, path, guard, cancellationToken).ConfigureAwait(false);
        }
    }

    public override async Task<FetchResult?> FetchIfPresentAsync(string relativePath, string? etag, long maxBytes, CancellationToken cancellationToken) =>
        FeedLayout.IsSafeRelativePath(relativePath) && !File.Exists(Describe(relativePath)) && Directory.Exists(Root)
            ? null
            : await base.FetchIfPresentAsync(relativePath, etag, maxBytes, cancellationToken).ConfigureAwait(false);

    public override async Task<FetchResult> FetchAsync(string relativePath, string? etag, long maxBytes, CancellationToken cancellationToken)
    {
        var info = new FileInfo(Describe(relativePath));
        var current = info.Exists ? $"\"{info.Length:x}-{info.LastWriteTimeUtc.Ticks:x}\"" : null;
        if (current is not null && current == etag)
        {
            return new FetchResult(null, etag);
        }
        var content = await ReadAsync(relativePath, maxBytes, cancellationToken).ConfigureAwait(false);
        return new FetchResult(content, current);
    }

    public override IReadOnlyList<string> ListChannels() => List("channels");

    public override IReadOnlyList<string> ListGroups() => List("groups");

    private List<string> List(string folder)
    {
        var dir = Path.Combine(Root, folder);
        if (!Directory.Exists(dir))
        {
            return [];
        }
        return [.. Directory.EnumerateFiles(dir, "*.json").Select(Path.GetFileNameWithoutExtension).OfType<string>().Order(StringComparer.Ordinal)];
    }
}

/// <summary>A feed on a web server, S3 bucket or CDN.</summary>
public sealed class HttpFeedSource : FeedSource
{
    private readonly HttpClient _http;
    private readonly bool _ownsClient;
    private readonly Uri _base;

    public HttpFeedSource(Uri baseUri, HttpClient? http = null)
    {
        ArgumentNullException.ThrowIfNull(baseUri);
        _base = baseUri.AbsoluteUri.EndsWith('/') ? baseUri : new Uri(baseUri.AbsoluteUri + "/");
        _ownsClient = http is null;
        _http = http ?? CreateDefaultClient();
        if (_base.Scheme == Uri.UriSchemeHttps)
        {
            SystemRoots.Preload();
        }
    }

    public override string Location => _base.AbsoluteUri;

    public override string Describe(string relativePath) => new Uri(_base, relativePath).AbsoluteUri;

    /// <summary>
    /// The client a feed is read with when the caller gives none. One kept connection per
    /// server, for as long as the server keeps it: no pooled-connection lifetime, because
    /// replacing a healthy connection every few minutes costs a TLS handshake, a chain build
    /// against the whole system root store and the native memory that goes with them, each
    /// time (docs/architecture.md, "Footprint"). A server that closes the connection (an idle
    /// timeout, a request cap, a new address behind the name) gets a new one at the next request.
    /// A connection idle longer than <see cref="IdleTimeout"/> is closed by the client.
    /// </summary>
    public static HttpClient CreateDefaultClient() => new(CreateHandler())
    {
        Timeout = TimeSpan.FromMinutes(10),
        DefaultRequestHeaders = { { "User-Agent", "belay" } },
    };

    /// <summary>How long a pooled connection may sit idle before the client closes it. The pool checks its idle
    /// connections on a timer every quarter of this (30 s when there is none), and each check wakes the runtime's
    /// timer thread, a pool worker and the gate thread of an otherwise sleeping agent; a server closes an idle
    /// connection sooner anyway (nginx after 75 s), which the next request notices before it uses it.</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(10);

    /// <summary>The handler behind <see cref="CreateDefaultClient"/>: one per process is enough, and whatever
    /// else talks to the same origin (the hub connection) can share its connection through it.</summary>
    public static SocketsHttpHandler CreateHandler() => new()
    {
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = TimeSpan.FromSeconds(15),
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        PooledConnectionIdleTimeout = IdleTimeout,
        MaxAutomaticRedirections = 5,
    };

    public override Task<long> CopyToAsync(string relativePath, Stream destination, long maxBytes, CancellationToken cancellationToken) =>
        CopyAsync(relativePath, destination, maxBytes, Limits.DeadlineFor(maxBytes), cancellationToken);

    public override Task<long> CopyArtifactAsync(string relativePath, Stream destination, long maxBytes, CancellationToken cancellationToken) =>
        CopyAsync(relativePath, destination, maxBytes, Limits.ArtifactDeadline, cancellationToken);

    private async Task<long> CopyAsync(string relativePath, Stream destination, long maxBytes, TimeSpan deadline, CancellationToken cancellationToken)
    {
        using var guard = new TransferGuard(Limits, deadline, Describe(relativePath), cancellationToken);
        var (url, response) = await SendAsync(relativePath, null, guard, cancellationToken).ConfigureAwait(false);
        using (response)
        {
            return await ReadBodyAsync(url, response, destination, maxBytes, guard, cancellationToken).ConfigureAwait(false);
        }
    }

    public override async Task<FetchResult> FetchAsync(string relativePath, string? etag, long maxBytes, CancellationToken cancellationToken) =>
        await FetchCoreAsync(relativePath, etag, maxBytes, missingIsNull: false, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("unreachable: a 404 throws when missingIsNull is false");

    public override Task<FetchResult?> FetchIfPresentAsync(string relativePath, string? etag, long maxBytes, CancellationToken cancellationToken) =>
        FetchCoreAsync(relativePath, etag, maxBytes, missingIsNull: true, cancellationToken);

    private async Task<FetchResult?> FetchCoreAsync(string relativePath, string? etag, long maxBytes, bool missingIsNull, CancellationToken cancellationToken)
    {
        using var guard = new TransferGuard(Limits, Limits.DeadlineFor(maxBytes), Describe(relativePath), cancellationToken);
        var (url, response) = await SendAsync(relativePath, etag, guard, cancellationToken).ConfigureAwait(false);
        using (response)
        {
            if (response.StatusCode == HttpStatusCode.NotModified)
            {
                return new FetchResult(null, etag);
            }
            if (response.StatusCode == HttpStatusCode.NotFound && missingIsNull)
            {
                return null;
            }
            using var buffer = new MemoryStream();
            await ReadBodyAsync(url, response, buffer, maxBytes, guard, cancellationToken).ConfigureAwait(false);
            return new FetchResult(buffer.ToArray(), response.Headers.ETag?.ToString());
        }
    }

    public override async Task<DateTimeOffset?> ServerDateAsync(CancellationToken cancellationToken)
    {
        using var guard = new TransferGuard(Limits, Limits.MetadataDeadline, Describe(FeedLayout.RootFile), cancellationToken);
        var (_, response) = await SendAsync(FeedLayout.RootFile, null, guard, cancellationToken).ConfigureAwait(false);
        using (response)
        {
            return response.Headers.Date;
        }
    }

    private async Task<(Uri Url, HttpResponseMessage Response)> SendAsync(string relativePath, string? etag, TransferGuard guard, CancellationToken cancellationToken)
    {
        if (!FeedLayout.IsSafeRelativePath(relativePath))
        {
            throw BelayException.Trust($"refusing feed path '{relativePath}': it is not a plain relative path inside the feed");
        }
        var url = new Uri(_base, relativePath);
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (etag is not null && EntityTagHeaderValue.TryParse(etag, out var tag))
        {
            request.Headers.IfNoneMatch.Add(tag);
        }
        // The roots a TLS connection is checked against, loaded beside the process's start (SystemRoots).
        await SystemRoots.WhenLoaded.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, guard.BeginWait()).ConfigureAwait(false);
            try
            {
                guard.Progress(0);
            }
            catch
            {
                response.Dispose();
                throw;
            }
            return (url, response);
        }
        catch (Exception e) when (guard.TimedOut(e))
        {
            throw guard.Failure(e);
        }
        catch (HttpRequestException e)
        {
            throw BelayException.Unreachable($"cannot reach {url}: {SystemErrors.Describe(e)}", e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw BelayException.Unreachable($"{url} did not answer in time", e);
        }
    }

    private static async Task<long> ReadBodyAsync(Uri url, HttpResponseMessage response, Stream destination, long maxBytes, TransferGuard guard,
        CancellationToken cancellationToken)
    {
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            throw new FeedFileNotFoundException(url.AbsoluteUri, null);
        }
        if (!response.IsSuccessStatusCode)
        {
            throw BelayException.Unreachable($"{url} answered {(int)response.StatusCode} {response.ReasonPhrase}");
        }
        if (response.Content.Headers.ContentLength is { } announced && announced > maxBytes)
        {
            // Refused before a byte of the body is read: the cap holds whatever the server says.
            throw BelayException.Trust($"{url} announces {announced} bytes (Content-Length), more than the {maxBytes} bytes allowed; refusing it");
        }
        Stream body;
        try
        {
            body = await response.Content.ReadAsStreamAsync(guard.BeginWait()).ConfigureAwait(false);
        }
        catch (Exception e) when (guard.TimedOut(e))
        {
            throw guard.Failure(e);
        }
        await using (body.ConfigureAwait(false))
        {
            try
            {
                return await CopyCappedAsync(body, destination, maxBytes, url.AbsoluteUri, guard, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (guard.TimedOut(e))
            {
                throw guard.Failure(e);
            }
            catch (IOException e)
            {
                throw BelayException.Unreachable($"reading {url} failed: {SystemErrors.Describe(e)}", e);
            }
            catch (HttpRequestException e)
            {
                throw BelayException.Unreachable($"reading {url} failed: {SystemErrors.Describe(e)}", e);
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsClient)
        {
            _http.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>The feed was reached but has no such file.</summary>
public sealed class FeedFileNotFoundException : BelayException
{
    public FeedFileNotFoundException(string where, Exception? inner)
        : base(ExitCodes.FeedUnreachable, $"{where} was not found in the feed", inner)
    {
        Where = where;
    }

    public FeedFileNotFoundException()
        : this("(unknown)", null)
    {
    }

    public FeedFileNotFoundException(string message)
        : this(message, null)
    {
    }

    public string Where { get; }
}

/// <summary>A conditional read: the content and its ETag, or no content when unchanged.</summary>
public sealed record FetchResult(byte[]? Content, string? ETag)
{
    public bool NotModified => Content is null;
}
