using Belay.Hub.Storage;
using Npgsql;

namespace Belay.Hub.Tests.Storage;

public sealed class PostgresUrlTests
{
    [Fact]
    public void AUrlBecomesAConnectionStringAndItsPasswordStaysOutOfMessages()
    {
        var url = PostgresUrl.Parse("postgres://hub:s3cret@db.example.net:5433/fleet?sslmode=verify-full&sslrootcert=/etc/ca.pem");
        var built = new NpgsqlConnectionStringBuilder(url.ConnectionString);
        Assert.Equal(("db.example.net", 5433, "fleet", "hub", "s3cret", SslMode.VerifyFull, "/etc/ca.pem"),
            (built.Host, built.Port, built.Database, built.Username, built.Password, built.SslMode, built.RootCertificate));
        Assert.Equal("postgres://hub:***@db.example.net:5433/fleet?sslmode=verify-full&sslrootcert=/etc/ca.pem", url.Display);
    }

    [Fact]
    public void TlsIsRequiredOffLoopbackByDefault()
    {
        Assert.Equal(SslMode.Require, new NpgsqlConnectionStringBuilder(PostgresUrl.Parse("postgresql://hub@10.0.0.5/fleet").ConnectionString).SslMode);
        var local = new NpgsqlConnectionStringBuilder(PostgresUrl.Parse("postgres://hub@127.0.0.1/fleet").ConnectionString);
        Assert.Equal((SslMode.Prefer, 5432), (local.SslMode, local.Port));
    }

    [Fact]
    public void ANodeOpensAFewConnectionsNotNpgsqlsHundred()
    {
        // Two nodes at Npgsql's default 100 each exhaust a default PostgreSQL (max_connections 100) in a reconnect storm.
        Assert.Equal(PostgresUrl.DefaultPoolSize, new NpgsqlConnectionStringBuilder(PostgresUrl.Parse("postgres://hub@db/fleet").ConnectionString).MaxPoolSize);
        Assert.True(PostgresUrl.DefaultPoolSize * 4 < 100, "four nodes must fit a default max_connections");
        Assert.Equal(50, new NpgsqlConnectionStringBuilder(PostgresUrl.Parse("postgres://hub@db/fleet?pool_size=50").ConnectionString).MaxPoolSize);
    }

    [Theory]
    [InlineData("postgres://hub@db/fleet?pool_size=0")]
    [InlineData("postgres://hub@db/fleet?pool_size=lots")]
    [InlineData("mysql://hub@db/fleet")]
    [InlineData("postgres://db/fleet")]
    [InlineData("postgres://hub@db/")]
    [InlineData("postgres://hub@db/fleet?sslmode=maybe")]
    [InlineData("postgres://hub@db/fleet?options=-c")]
    public void WhatIsNotAPostgresUrlIsAUsageError(string text)
    {
        var error = Assert.Throws<Core.BelayException>(() => PostgresUrl.Parse(text));
        Assert.Equal(Core.ExitCodes.Usage, error.ExitCode);
    }
}
