using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Npgsql;

namespace Belay.Hub.Storage;

/// <summary>
/// The data-protection keys (they sign the CSRF tokens) in PostgreSQL's <c>protection_keys</c>, so
/// that every hub node accepts what another issued: an operator's page may be served by one node and
/// its next request land on another. Kept as the keys folder keeps them on one node: in clear, readable
/// by whoever can read the database (which holds every credential's hash already).
/// </summary>
internal sealed class PostgresKeyRepository(NpgsqlDataSource source) : IXmlRepository
{
    private const long KeyLock = 0x62656c6b6579; // "belkey"

    /// <summary>
    /// Makes sure there is a key before the node serves, one for all the nodes: nodes that start at
    /// once on a new database would otherwise each make their own first key, active at once, and a
    /// form from one would be refused by another until their key rings refresh (a day). Later keys are
    /// made two days before they are needed, which leaves every node time to read them.
    /// </summary>
    public static void EnsureKey(IKeyManager keys, NpgsqlDataSource source, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(source);
        using var connection = source.OpenConnection();
        using var transaction = connection.BeginTransaction();
        using (var command = new NpgsqlCommand($"SELECT pg_advisory_xact_lock({KeyLock})", connection, transaction))
        {
            command.ExecuteNonQuery();
        }
        if (!keys.GetAllKeys().Any(k => !k.IsRevoked && k.ActivationDate <= now && k.ExpirationDate > now.AddDays(2)))
        {
            keys.CreateNewKey(now, now.AddDays(90));
        }
        transaction.Commit();
    }

    public IReadOnlyCollection<XElement> GetAllElements()
    {
        using var connection = source.OpenConnection();
        using var command = new NpgsqlCommand("SELECT xml FROM protection_keys ORDER BY name", connection);
        using var reader = command.ExecuteReader();
        var keys = new List<XElement>();
        while (reader.Read())
        {
            keys.Add(XElement.Parse(reader.GetString(0)));
        }
        return keys;
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        ArgumentNullException.ThrowIfNull(element);
        using var connection = source.OpenConnection();
        using var command = new NpgsqlCommand("INSERT INTO protection_keys (name, xml) VALUES (@n, @x) ON CONFLICT (name) DO NOTHING", connection);
        command.Parameters.AddWithValue("@n", string.IsNullOrEmpty(friendlyName) ? Guid.NewGuid().ToString("N") : friendlyName);
        command.Parameters.AddWithValue("@x", element.ToString(SaveOptions.DisableFormatting));
        command.ExecuteNonQuery();
    }
}
