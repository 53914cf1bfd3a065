using System.Net;
using System.Net.Http.Json;
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
    public static async Task<EnrollResponse> EnrollAsync(string url, string token, string? caPem, bool allowInsecureHttp, HostFacts facts, string version,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(facts);
        HubSettings.CheckUrl(url, allowInsecureHttp);
        if (string.IsNullOrWhiteSpace(token))
        {
            throw new BelayException(ExitCodes.Usage, "--enroll-token is empty");
        }
        using var http = HubHttp.Client(caPem, TimeSpan.FromSeconds(60), "belay/" + version);
        var endpoint = new Uri(new Uri(url.EndsWith('/') ? url : url + "/"), "agent/v1/enroll");
        var request = new EnrollRequest
        {
            Token = token.Trim(),
            Version = version,
            Rid = facts.Rid,
            Host = new HelloHost { Id = facts.Id, Hostname = facts.Hostname, Os = facts.Os, Arch = facts.Arch, Macs = [.. facts.Macs] },
        };
        using var content = JsonContent.Create(request, HubJsonContext.Default.EnrollRequest);
        using var post = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = content };
        var response = await HubHttp.SendAsync(http, post, url, cancellationToken).ConfigureAwait(false);
        using (response)
        {
            if (response.IsSuccessStatusCode)
            {
                var enrolled = await Read(response, HubJsonContext.Default.EnrollResponse, cancellationToken).ConfigureAwait(false);
                if (enrolled is null || string.IsNullOrEmpty(enrolled.Credential) || string.IsNullOrEmpty(enrolled.HostId))
                {
                    throw new BelayException($"the hub at {url} answered the enrollment without a credential: is this a Belay hub?");
                }
                return enrolled;
            }
            var error = await Read(response, HubJsonContext.Default.HubError, cancellationToken).ConfigureAwait(false);
            var why = error?.Error is { Length: > 0 } text ? text : $"HTTP {(int)response.StatusCode}";
            throw error?.Code switch
            {
                "expired" or "used-up" or "unknown-token" or "revoked" => BelayException.Trust($"the hub at {url} refused the enrollment token: {why}. Nothing was installed."),
                "rate-limited" => new BelayException($"the hub at {url} refused for now: {why}"),
                _ => response.StatusCode == HttpStatusCode.NotFound
                    ? new BelayException($"{endpoint} is not there (HTTP 404): is {url} the hub's address?")
                    : new BelayException($"the hub at {url} refused the enrollment: {why}"),
            };
        }
    }

    private static async Task<T?> Read<T>(HttpResponseMessage response, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        try
        {
            return await response.Content.ReadFromJsonAsync(type, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or NotSupportedException or InvalidOperationException)
        {
            return default;
        }
    }
}
