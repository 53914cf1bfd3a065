using System.Net;
using System.Security.Authentication;
using Belay.Core.IO;

namespace Belay.Core.Hub;

/// <summary>
/// The one HTTP client shape for a command's request to a hub's API (enrollment by
/// <c>belay install --hub</c>, a feed upload by <c>belay-release push</c>): the operator's CA
/// (<c>--hub-ca</c>) when given, no decompression, proxies as for the feed; and one mapping of
/// what can go wrong on the way there: a certificate that does not verify is a trust failure
/// (exit 3), a hub that cannot be reached or does not answer in time is exit 4.
/// </summary>
public static class HubHttp
{
    public static HttpClient Client(string? caPem, TimeSpan timeout, string userAgent, Action<SocketsHttpHandler>? configure = null)
    {
        var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(15), AutomaticDecompression = DecompressionMethods.None };
        if (caPem is { Length: > 0 })
        {
            handler.SslOptions.RemoteCertificateValidationCallback = HubSettings.Validator(HubSettings.LoadCa(caPem, "--hub-ca"));
        }
        configure?.Invoke(handler);
        var http = new HttpClient(handler, disposeHandler: true) { Timeout = timeout };
        http.DefaultRequestHeaders.UserAgent.ParseAdd(userAgent);
        return http;
    }

    /// <summary>Sends <paramref name="request"/>; what failed before an answer came is a <see cref="BelayException"/> that names the hub.</summary>
    public static async Task<HttpResponseMessage> SendAsync(HttpClient http, HttpRequestMessage request, string url, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(http);
        try
        {
            return await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (e.InnerException is AuthenticationException)
        {
            throw BelayException.Trust($"the hub at {url} presented a certificate this machine does not trust ({e.InnerException.Message}): give its CA with --hub-ca FILE", e);
        }
        catch (HttpRequestException e)
        {
            throw BelayException.Unreachable($"cannot reach the hub at {url}: {SystemErrors.Describe(e)}", e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw BelayException.Unreachable($"the hub at {url} did not answer within {Within(http.Timeout)}", e);
        }
    }

    private static string Within(TimeSpan timeout) =>
        timeout.TotalMinutes >= 2 && timeout.TotalMinutes % 1 == 0 ? $"{timeout.TotalMinutes:0} minutes" : $"{timeout.TotalSeconds:0} s";
}
