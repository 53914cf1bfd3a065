using System.Formats.Tar;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text;
using Belay.Core.IO;

namespace Belay.Core.Archives;

/// <summary>
/// Unpacks an agent archive (.tar.gz, its compact form .tar.x86.br, .tar.a64.br or .tar.br, or .zip for Windows) as if it came from an attacker,
/// even though its hash was checked: a signing key can leak, a publisher can pack the wrong
/// folder. The archive may hold only regular files and directories, with plain relative
/// names; anything else is refused as a trust failure naming the entry and the rule.
/// The archive is read twice: a first pass applies every rule and cap and writes nothing, so a
/// hostile archive is refused before it touches the disk; the second pass applies them again
/// while it writes into a private folder beside the destination, which is renamed into place
/// at the end, so the destination appears complete or not at all.
/// </summary>
public static partial class ArchiveExtractor
{
    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode PublicDirectory = OwnerOnlyDirectory | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
    private const UnixFileMode PublicExecutable = PublicDirectory;
    private const UnixFileMode PublicFile = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode AnyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    // The file type bits of a Unix mode, as zip keeps them in the high half of the external attributes.
    private const int TypeMask = 0xF000;
    private const int TypeFifo = 0x1000;
    private const int TypeCharacterDevice = 0x2000;
    private const int TypeDirectory = 0x4000;
    private const int TypeBlockDevice = 0x6000;
    private const int TypeRegular = 0x8000;
    private const int TypeSymbolicLink = 0xA000;
    private const int TypeSocket = 0xC000;

    /// <summary>
    /// Extracts <paramref name="archivePath"/> (.tar.gz, .tgz, .tar.x86.br, .tar.a64.br, .tar.br or .zip, by extension) into
    /// <paramref name="destinationDirectory"/>, which must not exist yet but whose parent must.
    /// Returns the relative paths (forward slashes) of the files extracted, in archive order.
    /// Files get mode 0755 when the archive gives them any execute bit and 0644 otherwise,
    /// directories 0755; owners in the archive are ignored. <paramref name="extracted"/> is the
    /// crash point reached once the private folder is complete and flushed, before its rename.
    /// </summary>
    /// <exception cref="BelayException">
    /// With <see cref="ExitCodes.TrustFailure"/> when the archive breaks a rule or a cap or is
    /// damaged; with <see cref="ExitCodes.Error"/> when the destination exists or the disk fails.
    /// </exception>
    /// <param name="displayName">What a refusal calls the archive (its URL and version), instead of the file it was downloaded to.</param>
    public static IReadOnlyList<string> Extract(string archivePath, string destinationDirectory, ExtractionLimits? limits = null, string? displayName = null,
        CrashPoint extracted = CrashPoint.StageExtracted)
    {
        ArgumentException.ThrowIfNullOrEmpty(archivePath);
        ArgumentException.ThrowIfNullOrEmpty(destinationDirectory);
        limits ??= ExtractionLimits.Default;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limits.MaxEntries, nameof(limits));
        ArgumentOutOfRangeException.ThrowIfNegative(limits.MaxTotalBytes, nameof(limits));
        ArgumentOutOfRangeException.ThrowIfNegative(limits.MaxEntryBytes, nameof(limits));
        if (!(limits.MaxRatio > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(limits), limits.MaxRatio, "MaxRatio must be positive");
        }

        var archive = Path.GetFullPath(archivePath);
        var isZip = archive.EndsWith(".zip", StringComparison.OrdinalIgnoreCase);
        if (!isZip && !archive.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase) && !archive.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase)
            && !CompactArchive.IsCompact(archive))
        {
            throw new BelayException($"cannot extract {archive}: Belay reads .tar.gz, .tgz, .tar.x86.br, .tar.a64.br, .tar.br and .zip archives only");
        }
        var destination = Path.TrimEndingDirectorySeparator(Path.GetFullPath(destinationDirectory));
        var parent = Path.GetDirectoryName(destination);
        if (parent is null || string.IsNullOrEmpty(Path.GetFileName(destination)))
        {
            throw new BelayException($"cannot extract into {destination}: it is a root folder");
        }
        // Path.Exists sees a dangling symbolic link too.
        if (Path.Exists(destination))
        {
            throw new BelayException($"cannot extract into {destination}: it already exists");
        }
        if (!Directory.Exists(parent))
        {
            throw new BelayException($"cannot extract into {destination}: folder {parent} does not exist");
        }

        FileStream input;
        try
        {
            input = new FileStream(archive, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BelayException($"cannot read archive {archive}: {SystemErrors.Describe(e)}", e);
        }

        using (input)
        {
            var archiveName = displayName ?? Path.GetFileName(archive);
            // First pass: read the whole archive and apply every rule and cap, writing nothing,
            // so that a hostile archive is refused before it touches the disk at all. A tar of at most
            // MaxReplayBytes is kept in memory as it is decompressed, so that the second pass reads it
            // again without decompressing it again (Brotli decodes at about half gzip's speed).
            MemoryStream? replay;
            try
            {
                replay = Run(input, archive, isZip, new Session(archiveName, root: null, limits, input.Length), record: true, replay: null);
                input.Position = 0;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new BelayException($"cannot read archive {archive}: {SystemErrors.Describe(e)}", e);
            }

            // Second pass: the same rules and caps again (they count the bytes actually written),
            // into a private folder that becomes the destination only once complete.
            var temp = CreatePrivateDirectory(parent, Path.GetFileName(destination));
            var moved = false;
            try
            {
                var session = new Session(archiveName, temp, limits, input.Length);
                Run(input, archive, isZip, session, record: false, replay);
                session.FinishDirectories();
                // Each file was flushed, but its name lives in its folder: until the folders are
                // flushed too (deepest first), a power loss after the rename below could leave
                // versions/<v> present and empty.
                foreach (var dir in Directory.EnumerateDirectories(temp, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length))
                {
                    AtomicFile.FlushDirectory(dir);
                }
                AtomicFile.FlushDirectory(temp);
                Durability.Reach(extracted);
                Durability.MoveDirectory(temp, destination);
                moved = true;
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(destination, PublicDirectory);
                }
                AtomicFile.FlushDirectoryOf(destination);
                return session.Files;
            }
            catch (Exception e)
            {
                TryDeleteTree(moved ? destination : temp);
                if (e is IOException or UnauthorizedAccessException)
                {
                    throw new BelayException(IOErrors.IsDiskFull(e) ? $"cannot extract {archive}: {IOErrors.DescribeWrite(e, destination)}" : $"cannot extract {archive} into {destination}: {IOErrors.Describe(e)}", e);
                }
                throw;
            }
        }
    }

    /// <summary>Applies the session to the archive; with <paramref name="record"/>, returns the tar it read when it fits <see cref="ExtractionLimits.MaxReplayBytes"/>.</summary>
    private static MemoryStream? Run(FileStream input, string path, bool isZip, Session session, bool record, MemoryStream? replay)
    {
        try
        {
            if (isZip)
            {
                ExtractZip(input, session);
                return null;
            }
            using var tar = replay is not null
                ? new MemoryStream(replay.GetBuffer(), 0, (int)replay.Length, writable: false)
                : CompactArchive.IsCompact(path)
                    ? CompactArchive.OpenTar(input, path, leaveOpen: true)
                    : new GZipStream(input, CompressionMode.Decompress, leaveOpen: true);
            var recorder = record && session.Limits.MaxReplayBytes > 0 ? new RecordingStream(tar, session.Limits.MaxReplayBytes) : null;
            ExtractTar(recorder ?? tar, session);
            return recorder?.Recorded;
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or FormatException or NotSupportedException)
        {
            throw BelayException.Trust($"refusing {session.ArchiveName}: it is damaged or uses a feature Belay does not read ({SystemErrors.Describe(e)})", e);
        }
    }

    private static void ExtractTar(Stream tar, Session session)
    {
        using var reader = new TarReader(tar, leaveOpen: true);
        while (reader.GetNextEntry(copyData: false) is { } entry)
        {
            session.CountEntry();
            switch (entry.EntryType)
            {
                case TarEntryType.V7RegularFile when entry.Name.EndsWith('/') && entry.Length == 0:
                    // How V7 tar wrote directories before there was a directory type.
                    session.MakeDirectory(session.Claim(entry.Name, isDirectory: true));
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile:
                    if (entry.Name.EndsWith('/'))
                    {
                        throw session.Refuse(entry.Name, "is a regular file whose name ends in '/'");
                    }
                    var file = session.Claim(entry.Name, isDirectory: false);
                    session.WriteFile(file, entry.Name, entry.DataStream, entry.Mode, expected: entry.Length, crc: null);
                    break;
                case TarEntryType.Directory:
                    session.MakeDirectory(session.Claim(entry.Name, isDirectory: true));
                    break;
                case TarEntryType.GlobalExtendedAttributes:
                    // pax global headers (git archive writes one) are metadata that .NET does not apply
                    // to later entries; they create nothing.
                    break;
                default:
                    throw session.Refuse(entry.Name, $"is {Describe(entry.EntryType)}; an archive may hold only regular files and directories");
            }
        }
    }

    private static void ExtractZip(FileStream input, Session session)
    {
        using var zip = new ZipArchive(input, ZipArchiveMode.Read, leaveOpen: true);
        var entries = zip.Entries;
        if (entries.Count > session.Limits.MaxEntries)
        {
            throw session.EntryCapCrossed();
        }
        foreach (var entry in entries)
        {
            session.CountEntry();
            var name = entry.FullName;
            var type = (entry.ExternalAttributes >> 16) & TypeMask;
            var isDirectory = name.EndsWith('/') || type == TypeDirectory;
            switch (type)
            {
                case 0 or TypeRegular or TypeDirectory:
                    break;
                case TypeSymbolicLink:
                    throw session.Refuse(name, "is a symbolic link; an archive may hold only regular files and directories");
                case TypeCharacterDevice:
                    throw session.Refuse(name, "is a character device; an archive may hold only regular files and directories");
                case TypeBlockDevice:
                    throw session.Refuse(name, "is a block device; an archive may hold only regular files and directories");
                case TypeFifo:
                    throw session.Refuse(name, "is a FIFO; an archive may hold only regular files and directories");
                case TypeSocket:
                    throw session.Refuse(name, "is a socket; an archive may hold only regular files and directories");
                default:
                    throw session.Refuse(name, $"has unknown Unix file type 0x{type:x4}; an archive may hold only regular files and directories");
            }
            if (isDirectory)
            {
                session.MakeDirectory(session.Claim(name, isDirectory: true));
                continue;
            }
            var file = session.Claim(name, isDirectory: false);
            var mode = (UnixFileMode)((entry.ExternalAttributes >> 16) & 0xFFF);
            using var data = entry.Open();
            session.WriteFile(file, name, data, mode, expected: entry.Length, crc: entry.Crc32);
        }
    }

    /// <summary>Passes reads through and keeps a copy of what was read, until it passes a limit (then it keeps nothing).</summary>
    private sealed class RecordingStream(Stream inner, int limit) : ReadOnlyStream
    {
        private MemoryStream? _copy = new();

        /// <summary>Everything read, or null when it passed the limit.</summary>
        public MemoryStream? Recorded => _copy;

        public override int Read(Span<byte> buffer)
        {
            var n = inner.Read(buffer);
            if (_copy is not null)
            {
                if (_copy.Length + n > limit)
                {
                    _copy = null;
                }
                else
                {
                    _copy.Write(buffer[..n]);
                }
            }
            return n;
        }
    }

    private static string Describe(TarEntryType type) => type switch
    {
        TarEntryType.SymbolicLink => "a symbolic link",
        TarEntryType.HardLink => "a hard link",
        TarEntryType.CharacterDevice => "a character device",
        TarEntryType.BlockDevice => "a block device",
        TarEntryType.Fifo => "a FIFO",
        TarEntryType.SparseFile => "a sparse file",
        TarEntryType.ContiguousFile => "a contiguous file",
        _ => $"an entry of tar type '{(char)type}' ({type})",
    };

    /// <summary>One extraction: the rules on names, the set of names seen, the caps.</summary>
    private sealed class Session
    {
        private enum Kind
        {
            File,
            Directory,
            ImplicitDirectory,
        }

        // Every name claimed so far, compared ignoring case: an archive whose names differ only
        // in case would extract differently on Windows and macOS than on Linux.
        private readonly Dictionary<string, (string Name, Kind Kind)> _claimed = new(StringComparer.OrdinalIgnoreCase);
        private readonly List<string> _files = [];
        private readonly byte[] _buffer = new byte[81920];
        /// <summary>Where files go; null for the first pass, which writes nothing.</summary>
        private readonly string? _root;
        private readonly long _archiveBytes;
        private readonly double _ratioCap;
        private int _entries;
        private long _totalBytes;

        public Session(string archiveName, string? root, ExtractionLimits limits, long archiveBytes)
        {
            ArchiveName = archiveName;
            _root = root;
            Limits = limits;
            _archiveBytes = archiveBytes;
            _ratioCap = limits.MaxRatio * archiveBytes;
        }

        public string ArchiveName { get; }
        public ExtractionLimits Limits { get; }
        public IReadOnlyList<string> Files => _files;

        public BelayException Refuse(string entryName, string rule) =>
            BelayException.Trust($"refusing {ArchiveName}: entry '{Printable(entryName)}' {rule}");

        public BelayException EntryCapCrossed() =>
            BelayException.Trust($"refusing {ArchiveName}: it holds more than {Limits.MaxEntries} entries (the entry cap)");

        public void CountEntry()
        {
            if (++_entries > Limits.MaxEntries)
            {
                throw EntryCapCrossed();
            }
        }

        /// <summary>Checks an entry's name against the rules and records it; returns it normalised.</summary>
        public string Claim(string name, bool isDirectory)
        {
            var path = Normalise(name);
            if (path.Length == 0)
            {
                if (isDirectory)
                {
                    return path; // "./": the destination itself.
                }
                throw Refuse(name, "names no file");
            }

            // Every parent must be a directory: claim the ones not seen yet as implicit directories.
            for (var slash = path.IndexOf('/', StringComparison.Ordinal); slash >= 0; slash = path.IndexOf('/', slash + 1))
            {
                var prefix = path[..slash];
                if (_claimed.TryGetValue(prefix, out var seen))
                {
                    if (!string.Equals(seen.Name, prefix, StringComparison.Ordinal))
                    {
                        throw Refuse(name, $"differs only in case from earlier entry '{Printable(seen.Name)}'");
                    }
                    if (seen.Kind == Kind.File)
                    {
                        throw Refuse(name, $"lies inside '{Printable(prefix)}', which is a file");
                    }
                }
                else
                {
                    _claimed.Add(prefix, (prefix, Kind.ImplicitDirectory));
                }
            }

            if (_claimed.TryGetValue(path, out var earlier))
            {
                if (!string.Equals(earlier.Name, path, StringComparison.Ordinal))
                {
                    throw Refuse(name, $"differs only in case from earlier entry '{Printable(earlier.Name)}'");
                }
                if (earlier.Kind == Kind.ImplicitDirectory && isDirectory)
                {
                    _claimed[path] = (path, Kind.Directory);
                    return path;
                }
                if (earlier.Kind == Kind.ImplicitDirectory)
                {
                    throw Refuse(name, "is a file, but earlier entries lie inside it as a directory");
                }
                throw Refuse(name, "is a duplicate of an earlier entry");
            }
            _claimed.Add(path, (path, isDirectory ? Kind.Directory : Kind.File));
            return path;
        }

        /// <summary>
        /// The name as a relative path with forward slashes, no '.' segments and no trailing
        /// slash, or a refusal naming the rule it breaks.
        /// </summary>
        private string Normalise(string name)
        {
            if (name.Length == 0)
            {
                throw Refuse(name, "has an empty name");
            }
            if (name.Any(char.IsControl))
            {
                throw Refuse(name, "has a NUL or control character in its name");
            }
            if (name.StartsWith(@"\\", StringComparison.Ordinal) || name.StartsWith("//", StringComparison.Ordinal))
            {
                throw Refuse(name, "is a UNC name (\\\\server\\share)");
            }
            if (name.Length >= 2 && char.IsAsciiLetter(name[0]) && name[1] == ':')
            {
                throw Refuse(name, "starts with a drive letter");
            }
            if (name.Contains('\\', StringComparison.Ordinal))
            {
                throw Refuse(name, "has a backslash in its name; archive names use '/'");
            }
            if (name[0] == '/')
            {
                throw Refuse(name, "is an absolute path");
            }
            if (name.Contains(':', StringComparison.Ordinal))
            {
                throw Refuse(name, "has a ':' in its name (a drive or an alternate data stream on Windows)");
            }
            var segments = (name.EndsWith('/') ? name[..^1] : name).Split('/');
            var kept = new List<string>(segments.Length);
            foreach (var segment in segments)
            {
                switch (segment)
                {
                    case "..":
                        throw Refuse(name, "has a '..' segment, which could reach outside the destination");
                    case ".":
                        continue;
                    case "":
                        throw Refuse(name, "has an empty segment ('//')");
                }
                if (segment.EndsWith('.') || segment.EndsWith(' '))
                {
                    throw Refuse(name, "has a segment ending in a dot or a space, which Windows would drop");
                }
                if (IsWindowsDeviceName(segment))
                {
                    throw Refuse(name, "has a Windows device name (CON, NUL, COM1, ...) as a segment");
                }
                kept.Add(segment);
            }
            return string.Join('/', kept);
        }

        public void MakeDirectory(string path)
        {
            if (_root is not null)
            {
                Durability.CreateDirectory(FullPath(path));
            }
        }

        public void WriteFile(string path, string entryName, Stream? data, UnixFileMode archiveMode, long expected, uint? crc)
        {
            using var file = _root is null ? null : CreateFile(path);
            var checksum = crc is null ? null : new Crc32();
            long written = 0;
            if (data is not null)
            {
                int n;
                while ((n = data.Read(_buffer)) > 0)
                {
                    // Check before writing, so that no cap is ever crossed on disk.
                    if (written + n > Limits.MaxEntryBytes)
                    {
                        throw Refuse(entryName, $"holds more than {Limits.MaxEntryBytes} bytes (the per-entry size cap)");
                    }
                    if (_totalBytes + n > Limits.MaxTotalBytes)
                    {
                        throw BelayException.Trust($"refusing {ArchiveName}: its files hold more than {Limits.MaxTotalBytes} bytes in all (the total size cap); stopped at entry '{Printable(entryName)}'");
                    }
                    if (_totalBytes + n > _ratioCap)
                    {
                        throw BelayException.Trust($"refusing {ArchiveName}: it expands to more than {Limits.MaxRatio} times its own {_archiveBytes} bytes (the compression ratio cap); stopped at entry '{Printable(entryName)}'");
                    }
                    checksum?.Append(_buffer.AsSpan(0, n));
                    file?.Write(_buffer, 0, n);
                    written += n;
                    _totalBytes += n;
                }
            }
            if (written != expected)
            {
                throw Refuse(entryName, $"holds {written} bytes, not the {expected} its header declares: the archive is truncated or damaged");
            }
            if (checksum is not null && checksum.Value != crc)
            {
                throw Refuse(entryName, $"does not match the CRC-32 its header declares ({checksum.Value:x8}, not {crc:x8}): it inflates to other data than it claims");
            }
            if (file is not null)
            {
                if (!OperatingSystem.IsWindows())
                {
                    // Only the execute bit survives: no setuid, setgid or sticky bit, no group or
                    // other write, whatever the archive says. Set on the handle, after creation,
                    // so that the umask does not change it.
                    File.SetUnixFileMode(file.SafeFileHandle, (archiveMode & AnyExecute) != 0 ? PublicExecutable : PublicFile);
                }
                AtomicFile.FlushToDisk(file);
            }
            _files.Add(path);
        }

        private FileStream CreateFile(string path)
        {
            var full = FullPath(path);
            Durability.CreateDirectory(Path.GetDirectoryName(full)!);
            return AtomicFile.CreateNew(full, AtomicFile.OwnerOnly, bufferSize: 0);
        }

        /// <summary>Gives every directory mode 0755 (the archive's modes and the umask play no part).</summary>
        public void FinishDirectories()
        {
            if (_root is null || OperatingSystem.IsWindows())
            {
                return;
            }
            // The tree holds no links (none are ever created), so walking it follows nothing.
            foreach (var directory in Directory.EnumerateDirectories(_root, "*", SearchOption.AllDirectories))
            {
                File.SetUnixFileMode(directory, PublicDirectory);
            }
        }

        private string FullPath(string path)
        {
            ArgumentNullException.ThrowIfNull(_root);
            var full = Path.GetFullPath(Path.Combine(_root, path));
            // The name rules already keep every path inside; this is the belt to those braces.
            if (!full.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal) && full != _root)
            {
                throw Refuse(path, "resolves outside the destination");
            }
            return full;
        }
    }

    private static bool IsWindowsDeviceName(string segment)
    {
        var dot = segment.IndexOf('.', StringComparison.Ordinal);
        var stem = (dot < 0 ? segment : segment[..dot]).TrimEnd(' ');
        if (stem.Equals("CON", StringComparison.OrdinalIgnoreCase) || stem.Equals("PRN", StringComparison.OrdinalIgnoreCase) ||
            stem.Equals("AUX", StringComparison.OrdinalIgnoreCase) || stem.Equals("NUL", StringComparison.OrdinalIgnoreCase) ||
            stem.Equals("CONIN$", StringComparison.OrdinalIgnoreCase) || stem.Equals("CONOUT$", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        return stem.Length == 4 && (stem.StartsWith("COM", StringComparison.OrdinalIgnoreCase) || stem.StartsWith("LPT", StringComparison.OrdinalIgnoreCase)) &&
            stem[3] is (>= '1' and <= '9') or '¹' or '²' or '³';
    }

    /// <summary>A name fit to print: control characters escaped, long names shortened.</summary>
    private static string Printable(string name)
    {
        var text = new StringBuilder(Math.Min(name.Length, 200) + 8);
        foreach (var c in name.Length > 200 ? name[..200] : name)
        {
            if (char.IsControl(c))
            {
                text.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                text.Append(c);
            }
        }
        if (name.Length > 200)
        {
            text.Append('…');
        }
        return text.ToString();
    }

    /// <summary>
    /// Creates a fresh folder beside the destination, on the same volume so that the final
    /// rename is atomic, that only its owner can enter while it fills (mode 0700). mkdir fails
    /// if the name exists, so the folder is never one somebody else prepared.
    /// </summary>
    private static string CreatePrivateDirectory(string parent, string destinationName)
    {
        var stem = destinationName.Length > 100 ? destinationName[..100] : destinationName;
        for (var attempt = 0; ; attempt++)
        {
            var path = Path.Combine(parent, $".{stem}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}.extracting");
            if (OperatingSystem.IsWindows())
            {
                if (!Path.Exists(path))
                {
                    Durability.CreateDirectory(path);
                    return path;
                }
            }
            else
            {
                if (Mkdir(path, (uint)OwnerOnlyDirectory) == 0)
                {
                    // mkdir's mode passes through the umask; set it exactly.
                    File.SetUnixFileMode(path, OwnerOnlyDirectory);
                    Durability.Created(path, directory: true);
                    return path;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno != EExist)
                {
                    throw new BelayException($"cannot create a folder in {parent} to extract into: {Marshal.GetPInvokeErrorMessage(errno)}");
                }
            }
            if (attempt >= 10)
            {
                throw new BelayException($"cannot create a fresh folder in {parent} to extract into");
            }
        }
    }

    private static void TryDeleteTree(string path)
    {
        try
        {
            Durability.DeleteDirectory(path);
        }
        catch (DirectoryNotFoundException)
        {
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private const int EExist = 17; // the same on Linux, macOS and illumos

    [UnsupportedOSPlatform("windows")]
    [LibraryImport("libc", EntryPoint = "mkdir", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Mkdir(string path, uint mode);
}
