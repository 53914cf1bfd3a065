using System.Globalization;
using System.Net;
using Belay.Core;
using Npgsql;

namespace Belay.Hub.Storage;

/// <summary>
/// <c>--database postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…&amp;sslrootcert=FILE]</c>
/// as an Npgsql connection string. A password is better kept out of the command line (where
/// <c>ps</c> shows it): Npgsql reads <c>PGPASSWORD</c> and <c>~/.pgpass</c> as libpq does. TLS:
/// off by default only on loopback; to any other host the default is <c>sslmode=require</c>
/// (encrypted), and <c>verify-full</c> with <c>sslrootcert</c> also checks the server's name and
/// certificate. Each node keeps at most <see cref="DefaultPoolSize"/> connections in its pool
/// (<c>?pool_size=N</c> to change it), not Npgsql's 100: two nodes at 100 each exhaust a
/// PostgreSQL at its default <c>max_connections</c> (100) as soon as thousands of agents connect
/// at once (the hubscale bench's reconnect storm), and a busy pool only queues writes that one
/// server runs no faster in parallel. Pure: text in, a connection string or a usage error out.
/// </summary>
internal sealed record PostgresUrl(string ConnectionString, string Display)
{
    /// <summary>The most connections a node's pool opens (the LISTEN connection is one more).</summary>
    public const int DefaultPoolSize = 20;

    public static bool IsPostgres(string text) =>
        text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase);

    public static PostgresUrl Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        const string Shape = "give postgres://USER@HOST[:PORT]/DATABASE (a password through PGPASSWORD or ~/.pgpass)";
        if (!IsPostgres(text) || !Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
        {
            throw new BelayException(ExitCodes.Usage, $"--database '{Redact(text)}': {Shape}");
        }
        var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        var user = uri.UserInfo.Split(':', 2);
        if (database.Length == 0 || database.Contains('/', StringComparison.Ordinal) || user[0].Length == 0)
        {
            throw new BelayException(ExitCodes.Usage, $"--database '{Redact(text)}': the user and the database are needed: {Shape}");
        }
        var host = uri.Host.Trim('[', ']');
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = host,
            Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port,
            Database = database,
            Username = Uri.UnescapeDataString(user[0]),
            ApplicationName = "belay-hub",
            SslMode = IsLoopback(host) ? SslMode.Prefer : SslMode.Require,
            MaxPoolSize = DefaultPoolSize,
        };
        if (user.Length == 2)
        {
            builder.Password = Uri.UnescapeDataString(user[1]);
        }
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = pair.Split('=', 2);
            var key = Uri.UnescapeDataString(kv[0]);
            var value = kv.Length == 2 ? Uri.UnescapeDataString(kv[1]) : "";
            switch (key)
            {
                case "sslmode":
                    builder.SslMode = value switch
                    {
                        "disable" => SslMode.Disable,
                        "prefer" => SslMode.Prefer,
                        "require" => SslMode.Require,
                        "verify-ca" => SslMode.VerifyCA,
                        "verify-full" => SslMode.VerifyFull,
                        _ => throw new BelayException(ExitCodes.Usage, $"--database: sslmode={value}: give disable, prefer, require, verify-ca or verify-full"),
                    };
                    break;
                case "sslrootcert":
                    builder.RootCertificate = value;
                    break;
                case "host":
                    builder.Host = value; // a folder: PostgreSQL's Unix socket in it
                    break;
                case "connect_timeout":
                    builder.Timeout = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds is > 0 and <= 1024
                        ? seconds
                        : throw new BelayException(ExitCodes.Usage, $"--database: connect_timeout={value}: give seconds, 1 to 1024");
                    break;
                case "pool_size":
                    builder.MaxPoolSize = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var size) && size is > 0 and <= 1000
                        ? size
                        : throw new BelayException(ExitCodes.Usage, $"--database: pool_size={value}: give the most connections this node may open, 1 to 1000");
                    break;
                default:
                    throw new BelayException(ExitCodes.Usage, $"--database: unknown parameter '{key}' (known: sslmode, sslrootcert, host, connect_timeout, pool_size)");
            }
        }
        return new PostgresUrl(builder.ConnectionString, Redact(text));
    }

    /// <summary>The URL without its password, for messages and logs.</summary>
    public static string Redact(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        var at = text.IndexOf('@', StringComparison.Ordinal);
        if (scheme < 0 || at < scheme)
        {
            return text;
        }
        var colon = text.IndexOf(':', scheme + 3);
        return colon > 0 && colon < at ? text[..colon] + ":***" + text[at..] : text;
    }

    private static bool IsLoopback(string host) =>
        host == "localhost" || host.StartsWith('/') || IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address);
}
