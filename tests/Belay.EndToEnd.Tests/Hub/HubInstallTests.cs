using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Hub;

/// <summary>`belay install --hub URL --enroll-token T [--hub-ca FILE]` with the shipped binaries: what a bad token, TLS and a re-run do.</summary>
public sealed class HubInstallTests
{
    private const string NoPrograms = "";

    [Fact]
    public async Task AnExpiredUsedUpOrUnknownTokenIsATrustFailureAndNothingIsInstalled()
    {
        using var fleet = new HubFleet();
        var expired = fleet.Hub.EnrollToken("web", expires: "1s");
        var usedUp = fleet.Hub.EnrollToken("web", uses: 1);
        await FakeAgent.EnrollAsync(fleet.Hub.BaseUri, usedUp, "someone-else");
        await Task.Delay(1500, TestContext.Current.CancellationToken);
        foreach (var (token, why) in new[] { (expired, "expired"), (usedUp, "used as many times"), ("bhe_never-made-by-this-hub", "does not know this enrollment token") })
        {
            var result = fleet.Install("refused", NoPrograms, token);
            Assert.True(result.ExitCode == 3, result.ToString());
            Assert.Contains("refused the enrollment token", result.StdErr, StringComparison.Ordinal);
            Assert.Contains(why, result.StdErr, StringComparison.Ordinal);
            Assert.Contains("Nothing was installed", result.StdErr, StringComparison.Ordinal);
            Assert.DoesNotContain(token, result.StdOut + result.StdErr, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(fleet.Prefix("refused"), "etc", "config.json")), "config.json was written");
            Assert.False(File.Exists(fleet.HubSettingsPath("refused")), "hub.json was written");
            Assert.False(Directory.Exists(Path.Combine(fleet.Prefix("refused"), "versions")), "a version was laid out");
        }
        // --enroll-token without --hub is a usage error; so is --hub on plain http to a non-loopback address.
        Assert.Equal(2, fleet.Install("usage", NoPrograms, null, "--enroll-token", "bhe_x").ExitCode);
        var http = fleet.Install("usage", NoPrograms, null, "--hub", "http://192.0.2.10:7070/", "--enroll-token", "bhe_x");
        Assert.Equal(2, http.ExitCode);
        Assert.Contains("plain http", http.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void RunningTheSameInstallAgainKeepsTheCredentialAndDoesNotUseTheTokenAgain()
    {
        using var fleet = new HubFleet();
        var token = fleet.Hub.EnrollToken("web", uses: 1);
        var first = fleet.Install("again", NoPrograms, token);
        Assert.True(first.ExitCode == 0, first.ToString());
        var credential = fleet.HubSettings("again").GetProperty("credential").GetString();
        var second = fleet.Install("again", NoPrograms, token);
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Contains("already enrolled with the hub", second.StdOut, StringComparison.Ordinal);
        Assert.Equal(credential, fleet.HubSettings("again").GetProperty("credential").GetString());
        Assert.Single(fleet.Hub.Get(fleet.AdminToken, "api/v1/hosts").EnumerateArray());
    }

    [Fact]
    public void AHubUnderTlsIsTrustedThroughHubCaAndRefusedWithoutIt()
    {
        using var pki = new TempDir("belay-hub-tls-");
        var (caPem, certPem, keyPem) = MakeCertificates();
        var ca = pki.Combine("ca.pem");
        var cert = pki.Combine("hub.pem");
        var key = pki.Combine("hub.key");
        File.WriteAllText(ca, caPem);
        File.WriteAllText(cert, certPem);
        File.WriteAllText(key, keyPem);
        using var fleet = new HubFleet("--tls-cert", cert, "--tls-key", key);
        Assert.StartsWith("https://", fleet.Hub.Url, StringComparison.Ordinal);

        var untrusted = fleet.Install("tls", NoPrograms, fleet.Hub.EnrollToken());
        Assert.True(untrusted.ExitCode == 3, untrusted.ToString());
        Assert.Contains("--hub-ca", untrusted.StdErr, StringComparison.Ordinal);

        var trusted = fleet.Install("tls", NoPrograms, fleet.Hub.EnrollToken(), "--hub-ca", ca);
        Assert.True(trusted.ExitCode == 0, trusted + fleet.ReadLogs("tls"));
        var id = fleet.HubSettings("tls").GetProperty("hostId").GetString();
        Assert.Contains("BEGIN CERTIFICATE", fleet.HubSettings("tls").GetProperty("caPem").GetString(), StringComparison.Ordinal);
        // The agent connects over wss:// with the pinned CA.
        using var http = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true }) { BaseAddress = fleet.Hub.BaseUri };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", fleet.AdminToken);
        fleet.WaitUntil(() => Get(http, $"api/v1/hosts/{id}").Contains("\"connected\":true", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "connected over TLS", "tls");
        // Under TLS the session cookie is __Host- prefixed and Secure.
        using var login = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true, AllowAutoRedirect = false }) { BaseAddress = fleet.Hub.BaseUri };
        var page = Response(login, "login");
        Assert.Contains(page.Headers.GetValues("Set-Cookie"), c => c.StartsWith("__Host-belay_csrf=", StringComparison.Ordinal) && c.Contains("secure", StringComparison.OrdinalIgnoreCase));
        Assert.Contains("max-age=", string.Join(",", page.Headers.GetValues("Strict-Transport-Security")), StringComparison.Ordinal);
    }

    [Fact]
    public void TheHubRefusesANonLoopbackAddressWithoutTls()
    {
        using var data = new TempDir("belay-hub-data-");
        var result = ExternalTool.Run(BelayBinaries.Hub, ["serve", "--data", data.Path, "--listen", "0.0.0.0:0"], timeout: TimeSpan.FromSeconds(60));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--insecure-http", result.StdErr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(data.Path, "hub.db")), "the hub created its database before refusing");
    }

    private static string Get(HttpClient http, string path) => http.GetStringAsync(path).GetAwaiter().GetResult();

    private static HttpResponseMessage Response(HttpClient http, string path) => http.GetAsync(path).GetAwaiter().GetResult();

    /// <summary>A CA and a server certificate for 127.0.0.1 signed by it, as PEM.</summary>
    private static (string Ca, string Cert, string Key) MakeCertificates()
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=Belay test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var caCert = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var cert = request.Create(caCert, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), RandomNumberGenerator.GetBytes(8));
        return (caCert.ExportCertificatePem(), cert.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }
}
