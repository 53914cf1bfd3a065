namespace Belay.Bench;

/// <summary>
/// A certificate authority made for one bench run (openssl, P-256, valid two days) and a
/// server certificate it signs for 127.0.0.1 and localhost. Clients trust it through
/// <see cref="ClientEnvironment"/>: SSL_CERT_FILE is read by OpenSSL, so by .NET's
/// SocketsHttpHandler on Linux (belay, belay-agent) and by curl alike; nothing is added to
/// the system's trust store.
/// </summary>
internal sealed class Tls
{
    private Tls(string dir)
    {
        CaCert = Path.Combine(dir, "ca.crt");
        ServerCert = Path.Combine(dir, "server.crt");
        ServerKey = Path.Combine(dir, "server.key");
    }

    public string CaCert { get; }
    public string ServerCert { get; }
    public string ServerKey { get; }

    public Dictionary<string, string> ClientEnvironment => new() { ["SSL_CERT_FILE"] = CaCert, ["CURL_CA_BUNDLE"] = CaCert };

    public static Tls Create(string dir)
    {
        Directory.CreateDirectory(dir);
        var tls = new Tls(dir);
        var caKey = Path.Combine(dir, "ca.key");
        var csr = Path.Combine(dir, "server.csr");
        var ext = Path.Combine(dir, "server.ext");
        File.WriteAllText(ext, "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n");
        Shell.Check("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", caKey, "-out", tls.CaCert, "-days", "2", "-subj", "/CN=Belay bench CA (one run)",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        Shell.Check("openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", tls.ServerKey, "-out", csr, "-subj", "/CN=127.0.0.1"]);
        Shell.Check("openssl", ["x509", "-req", "-in", csr, "-CA", tls.CaCert, "-CAkey", caKey, "-CAcreateserial",
            "-days", "2", "-out", tls.ServerCert, "-extfile", ext]);
        return tls;
    }
}
