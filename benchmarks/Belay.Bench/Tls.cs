namespace Belay.Bench;

/// <summary>
/// A certificate authority made for one bench run (openssl, P-256, valid two days) and a
/// server certificate it signs for 127.0.0.1 and localhost. Clients trust it through
/// <see cref="ClientEnvironment"/>: SSL_CERT_FILE is read by OpenSSL, so by .NET's
/// SocketsHttpHandler on Linux (belay-agent) and by curl (install.sh, belay, the floor) alike;
/// nothing is added to the system's trust store. The file they read is the system's roots with
/// the run's CA after them (<see cref="Bundle"/>), as a real host's store holds 100 and more: a
/// TLS client pays for loading them at its start (curl once per run), and a bundle of one
/// certificate flattered every process that starts one (docs/architecture.md, "Thirteenth round").
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

    /// <summary>The system's roots (Debian's ca-certificates bundle, when there is one) followed by <see cref="CaCert"/>.</summary>
    public string Bundle => Path.Combine(Path.GetDirectoryName(CaCert)!, "bundle.crt");
    public string ServerCert { get; }
    public string ServerKey { get; }

    public Dictionary<string, string> ClientEnvironment => new() { ["SSL_CERT_FILE"] = Bundle, ["CURL_CA_BUNDLE"] = Bundle };

    private const string SystemRoots = "/etc/ssl/certs/ca-certificates.crt";

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
        var system = File.Exists(SystemRoots) ? File.ReadAllText(SystemRoots) : "";
        File.WriteAllText(tls.Bundle, system + (system.EndsWith('\n') || system.Length == 0 ? "" : "\n") + File.ReadAllText(tls.CaCert));
        return tls;
    }
}
