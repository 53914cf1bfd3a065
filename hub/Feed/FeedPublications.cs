using Belay.Core;
using Belay.Core.Archives;
using Belay.Core.Hub;
using Belay.Core.IO;
using Belay.Core.Minisign;

namespace Belay.Hub.Feed;

/// <summary>What `belay-hub serve --feed-dir DIR --feed-root-key KEY… [--feed-max-upload SIZE]` was told.</summary>
internal sealed record FeedHosting(string Directory, IReadOnlyList<MinisignPublicKey> RootKeys, long MaxUploadBytes)
{
    public const long DefaultMaxUploadBytes = 1024L * 1024 * 1024;

    /// <summary>The link the hub serves under /feed/: it points at the newest accepted generation.</summary>
    public string Current => Path.Combine(Directory, "current");

    public string Generations => Path.Combine(Directory, "generations");
}

/// <summary>
/// The feed the hub serves, and pushes to it (docs/hub.md, "Serving a feed"). A push is a whole
/// publication: the feed folder as one .tar.gz. In order:
/// <list type="number">
/// <item>one push at a time: a lock in the process and a lock file in DIR (several nodes sharing DIR
///   take turns through it);</item>
/// <item>the body is saved, capped at the upload limit (413 past it, nothing kept);</item>
/// <item>it is unpacked by the agent's own defensive extractor (<see cref="ArchiveExtractor"/>: plain
///   files and folders only, no '..', no absolute path, no link, capped) into a private folder;</item>
/// <item><see cref="PublicationCheck"/> checks it whole, as a host would, and against what is served;</item>
/// <item>it becomes generations/&lt;n&gt;, and then the link DIR/current is replaced by one to it with
///   a rename: the whole new feed is served from the next request on, never a part of it. A host
///   that read a manifest from the old generation finds its files in the new one too, unless the
///   push removed them (then it gets a 404 and reads the new manifest at its next check).</item>
/// </list>
/// The two generations before the current one are kept (a download under way finishes from its
/// open file anyway); older ones are deleted.
/// Hazard: a hub killed between the rename of the generation and the switch of the link leaves an
/// unused generation, which the next push's count skips over and the pruning deletes.
/// </summary>
internal sealed class FeedPublications : IDisposable
{
    private const int GenerationsKept = 3;
    private readonly SemaphoreSlim _one = new(1, 1);
    private readonly Serilog.ILogger _log;
    private readonly TimeProvider _clock;

    public FeedPublications(FeedHosting hosting, Serilog.ILogger log, TimeProvider clock)
    {
        Hosting = hosting;
        _log = log;
        _clock = clock;
    }

    public FeedHosting Hosting { get; }

    public void Dispose() => _one.Dispose();

    /// <summary>Makes DIR, generations/ and, the first time, an empty generation 0 that current points at.</summary>
    public void Prepare()
    {
        System.IO.Directory.CreateDirectory(Hosting.Generations);
        if (!Path.Exists(Hosting.Current))
        {
            var empty = Path.Combine(Hosting.Generations, "0");
            System.IO.Directory.CreateDirectory(empty);
            Switch(0);
        }
    }

    /// <summary>The generation served now (0: none pushed yet).</summary>
    public long CurrentGeneration =>
        new FileInfo(Hosting.Current).LinkTarget is { } target && long.TryParse(Path.GetFileName(target), out var n) ? n : 0;

    public sealed record Outcome(int Status, FeedPushAnswer Answer);

    public async Task<Outcome> PushAsync(Stream body, long? length, string actor, CancellationToken cancellationToken)
    {
        if (length > Hosting.MaxUploadBytes)
        {
            return TooLarge(length.Value);
        }
        if (!await _one.WaitAsync(TimeSpan.FromMinutes(2), cancellationToken).ConfigureAwait(false))
        {
            return Refused(StatusCodes.Status409Conflict, FeedPush.BusyCode, "another push has been running for 2 minutes; try again when it is done");
        }
        var id = Guid.NewGuid().ToString("N");
        var incoming = Path.Combine(Hosting.Directory, $".incoming-{id}.tar.gz");
        var staging = Path.Combine(Hosting.Generations, $".staging-{id}");
        try
        {
            using var fileLock = await LockAsync(cancellationToken).ConfigureAwait(false);
            if (fileLock is null)
            {
                return Refused(StatusCodes.Status409Conflict, FeedPush.BusyCode, "another hub node has been pushing to this feed folder for 2 minutes; try again when it is done");
            }
            long received;
            await using (var file = new FileStream(incoming, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, FileOptions.Asynchronous))
            {
                received = await CopyCappedAsync(body, file, Hosting.MaxUploadBytes, cancellationToken).ConfigureAwait(false);
            }
            if (received > Hosting.MaxUploadBytes)
            {
                return TooLarge(received);
            }
            var report = new List<string>();
            try
            {
                var limits = new ExtractionLimits(MaxEntries: 100_000, MaxTotalBytes: Hosting.MaxUploadBytes * 4, MaxEntryBytes: Hosting.MaxUploadBytes * 4, MaxRatio: 1000);
                ArchiveExtractor.Extract(incoming, staging, limits, "the pushed feed");
            }
            catch (BelayException e) when (e.ExitCode == ExitCodes.TrustFailure)
            {
                report.Add($"FAIL  unpacking: {e.Message}");
                return Refused(StatusCodes.Status422UnprocessableEntity, FeedPush.TrustCode, $"refused: {e.Message}", report);
            }
            var now = _clock.GetUtcNow();
            var current = CurrentGeneration;
            var served = Path.Combine(Hosting.Generations, current.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var check = await PublicationCheck.RunAsync(staging, served, Hosting.RootKeys, now, report.Add, cancellationToken).ConfigureAwait(false);
            if (check.Failures.Count > 0)
            {
                _log.Warning("feed push by {Actor} refused: {Failures} of {Checked} checks failed, first: {First}", actor, check.Failures.Count, check.Checked,
                    check.Failures[0].Message);
                return Refused(StatusCodes.Status422UnprocessableEntity, FeedPush.TrustCode,
                    $"refused: {check.Failures.Count} of {check.Checked} checks failed; first: {check.Failures[0].Message}. Nothing changed: the hub serves generation {current} as before", report);
            }
            var next = Math.Max(current, Highest()) + 1;
            var target = Path.Combine(Hosting.Generations, next.ToString(System.Globalization.CultureInfo.InvariantCulture));
            System.IO.Directory.Move(staging, target);
            AtomicFile.FlushDirectory(Hosting.Generations);
            Switch(next);
            Prune(next);
            _log.Information("feed push by {Actor}: generation {Generation} served ({Checked} checks passed)", actor, next, check.Checked);
            return new Outcome(StatusCodes.Status200OK, new FeedPushAnswer
            {
                Result = $"the hub serves generation {next} ({check.Checked} checks passed)",
                Generation = next,
                Report = report,
            });
        }
        finally
        {
            TryDelete(incoming);
            if (System.IO.Directory.Exists(staging))
            {
                System.IO.Directory.Delete(staging, recursive: true);
            }
            _one.Release();
        }
    }

    private Outcome TooLarge(long bytes) => Refused(StatusCodes.Status413PayloadTooLarge, FeedPush.TooLargeCode,
        $"the pushed feed is larger than the {Hosting.MaxUploadBytes} bytes this hub takes ({(bytes > Hosting.MaxUploadBytes * 2 ? "announced " : "at least ")}{bytes}): raise belay-hub serve --feed-max-upload, or push a smaller feed; nothing changed");

    private static Outcome Refused(int status, string code, string error, List<string>? report = null) =>
        new(status, new FeedPushAnswer { Error = error, Code = code, Report = report ?? [] });

    /// <summary>Points current at generations/&lt;n&gt;: a new link renamed over the old one (rename(2) is atomic).</summary>
    private void Switch(long generation)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new BelayException("serving a pushed feed (--feed-dir) needs a POSIX system: the hub switches generations by renaming a symbolic link");
        }
        var link = Path.Combine(Hosting.Directory, $".current-{Guid.NewGuid():N}");
        File.CreateSymbolicLink(link, Path.Combine("generations", generation.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Posix.Rename(link, Hosting.Current);
        AtomicFile.FlushDirectory(Hosting.Directory);
    }

    private long Highest() =>
        System.IO.Directory.EnumerateDirectories(Hosting.Generations).Select(Path.GetFileName)
            .Select(n => long.TryParse(n, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : -1).DefaultIfEmpty(0).Max();

    private void Prune(long current)
    {
        foreach (var dir in System.IO.Directory.EnumerateDirectories(Hosting.Generations))
        {
            var name = Path.GetFileName(dir);
            var old = long.TryParse(name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n <= current - GenerationsKept;
            if (old || name.StartsWith(".staging-", StringComparison.Ordinal))
            {
                try
                {
                    System.IO.Directory.Delete(dir, recursive: true);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    _log.Warning("cannot delete the old feed generation {Dir}: {Error}", dir, e.Message);
                }
            }
        }
    }

    /// <summary>The lock file in DIR, held for the whole push (null after 2 minutes of waiting).</summary>
    private async Task<FileStream?> LockAsync(CancellationToken cancellationToken)
    {
        var path = Path.Combine(Hosting.Directory, ".push.lock");
        var until = _clock.GetUtcNow() + TimeSpan.FromMinutes(2);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (_clock.GetUtcNow() < until)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), _clock, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException)
            {
                return null;
            }
        }
    }

    /// <summary>Copies at most <paramref name="max"/> + 1 bytes: more than that is refused without reading the rest.</summary>
    private static async Task<long> CopyCappedAsync(Stream source, Stream destination, long max, CancellationToken cancellationToken)
    {
        var buffer = new byte[81920];
        long total = 0;
        while (true)
        {
            var n = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return total;
            }
            total += n;
            if (total > max)
            {
                return total;
            }
            await destination.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
