using System.Net;
using System.Net.Http.Json;
using Belay.Core.Feed;
using Belay.Core.Hosting;

namespace Belay.Core.Hub;

/// <summary>
/// The host's side of enrollment (<c>belay install --hub URL --enroll-token T [--hub-ca FILE]</c>):
/// one <c>POST /agent/v1/enroll</c> that trades the token for this host's own credential. It runs
/// before the install writes anything, so a refused token leaves the host as it was. A token the
/// hub refuses (expired, used up, unknown, revoked) and a hub certificate that does not verify are
/// trust failures (exit 3); a hub that cannot be reached is exit 4. Proxies as for the feed
/// (<c>HTTPS_PROXY</c>/<c>NO_PROXY</c>). The token is never printed or logged.
/// </summary>
public static class HubEnrollment
{
    /// <summary>The most of a hub's answer to an enrollment that is read.</summary>
    private const long MaxAnswer = 1024 * 1024;

    public static async Task<EnrollResponse> EnrollAsync(string url, string token, string? caPem, bool allowInsecureHttp, HostFacts facts, string version,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(facts);
        HubSettings.CheckUrl(url, allowInsecureHttp);
        if (string.IsNullOrWhiteSpace(token))
        {
            throw new BelayException(ExitCodes.Usage, "--enroll-token is empty");
        }
        var endpoint = new Uri(new Uri(url.EndsWith('/') ? url : url + "/"), "agent/v1/enroll");
        var request = new EnrollRequest
        {
            Token = token.Trim(),
            Version = version,
            Rid = facts.Rid,
            Host = new HelloHost { Id = facts.Id, Hostname = facts.Hostname, Os = facts.Os, Arch = facts.Arch, Macs = [.. facts.Macs] },
        };
        if (caPem is { Length: > 0 })
        {
            _ = HubSettings.LoadCa(caPem, "--hub-ca");
        }
        var (status, answer) = HttpFeature.IsSupported
            ? await PostAsync(url, endpoint, request, caPem, version, cancellationToken).ConfigureAwait(false)
            : await PostWithCurlAsync(url, endpoint, request, caPem, version, cancellationToken).ConfigureAwait(false);
        return Interpret(url, endpoint, status, answer);
    }

    private static async Task<(int Status, byte[] Answer)> PostAsync(string url, Uri endpoint, EnrollRequest request, string? caPem, string version,
        CancellationToken cancellationToken)
    {
        using var http = HubHttp.Client(caPem, TimeSpan.FromSeconds(60), "belay/" + version);
        using var content = JsonContent.Create(request, HubJsonContext.Default.EnrollRequest);
        using var post = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = content };
        using var response = await HubHttp.SendAsync(http, post, url, cancellationToken).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (body.ConfigureAwait(false))
        {
            await FeedSource.CopyCappedAsync(body, buffer, MaxAnswer, $"the hub's answer from {endpoint}", guard: null, cancellationToken).ConfigureAwait(false);
        }
        return ((int)response.StatusCode, buffer.ToArray());
    }

    /// <summary>
    /// The same POST through curl, for the `belay` that has no HttpClient (HttpFeature): the request (and so the
    /// token) on curl's standard input, never on its command line; the operator's CA as curl's only trust
    /// (<c>--cacert</c>, as <see cref="HubHttp"/> trusts only it), in a file only this user can read.
    /// </summary>
    private static async Task<(int Status, byte[] Answer)> PostWithCurlAsync(string url, Uri endpoint, EnrollRequest request, string? caPem, string version,
        CancellationToken cancellationToken)
    {
        var tool = FetchTool.Find() is { Name: "curl" } curl
            ? curl
            : throw new BelayException($"enrolling with the hub at {url} needs curl on PATH (this belay leaves HTTP to it); install curl and run the install again");
        var protocols = endpoint.Scheme == Uri.UriSchemeHttp ? "=http,https" : "=https";
        var args = new List<string>
        {
            "-q", "--silent", "--show-error", "--proto", protocols, "--tlsv1.2", "--connect-timeout", "15", "--max-time", "60",
            "--user-agent", "belay/" + version, "--header", "Content-Type: application/json", "--data-binary", "@-",
            "--dump-header", "/dev/stderr", "--output", "-",
        };
        string? caFolder = null;
        try
        {
            if (caPem is { Length: > 0 })
            {
                caFolder = Directory.CreateTempSubdirectory("belay-hub-ca-").FullName;
                var caFile = Path.Combine(caFolder, "ca.pem");
                File.WriteAllText(caFile, caPem);
                args.AddRange(["--cacert", caFile]);
            }
            args.Add(endpoint.AbsoluteUri);
            var body = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(request, HubJsonContext.Default.EnrollRequest);
            using var answer = new MemoryStream();
            var (response, _) = await tool.RunAsync(args, body, answer, MaxAnswer, TransferLimits.Default, TimeSpan.FromSeconds(75),
                $"the hub's answer from {endpoint}", cancellationToken).ConfigureAwait(false);
            if (response.TlsFailure)
            {
                throw BelayException.Trust($"the hub at {url} presented a certificate this machine does not trust ({response.Describe(tool)}): give its CA with --hub-ca FILE");
            }
            if (response.ExitCode != 0 || response.Status is not { } status)
            {
                throw BelayException.Unreachable($"cannot reach the hub at {url}: {response.Describe(tool)}");
            }
            return (status, answer.ToArray());
        }
        finally
        {
            if (caFolder is not null)
            {
                Directory.Delete(caFolder, recursive: true);
            }
        }
    }

    private static EnrollResponse Interpret(string url, Uri endpoint, int status, byte[] answer)
    {
        if (status is >= 200 and < 300)
        {
            var enrolled = Read(answer, HubJsonContext.Default.EnrollResponse);
            if (enrolled is null || string.IsNullOrEmpty(enrolled.Credential) || string.IsNullOrEmpty(enrolled.HostId))
            {
                throw new BelayException($"the hub at {url} answered the enrollment without a credential: is this a Belay hub?");
            }
            return enrolled;
        }
        var error = Read(answer, HubJsonContext.Default.HubError);
        var why = error?.Error is { Length: > 0 } text ? text : $"HTTP {status}";
        throw error?.Code switch
        {
            "expired" or "used-up" or "unknown-token" or "revoked" => BelayException.Trust($"the hub at {url} refused the enrollment token: {why}. Nothing was installed."),
            "rate-limited" => new BelayException($"the hub at {url} refused for now: {why}"),
            _ => status == (int)HttpStatusCode.NotFound
                ? new BelayException($"{endpoint} is not there (HTTP 404): is {url} the hub's address?")
                : new BelayException($"the hub at {url} refused the enrollment: {why}"),
        };
    }

    private static T? Read<T>(byte[] answer, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        try
        {
            return answer.Length == 0 ? default : System.Text.Json.JsonSerializer.Deserialize(answer, type);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or NotSupportedException or InvalidOperationException)
        {
            return default;
        }
    }
}
