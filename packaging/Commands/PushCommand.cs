using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Belay.Core;
using Belay.Core.Hub;
using Belay.Core.IO;
using Belay.Core.Publishing;

namespace Belay.Release.Commands;

/// <summary>
/// push: uploads a feed folder to a hub that serves it (`belay-hub serve --feed-dir`), as one
/// publication (<see cref="FeedBundle"/>). The hub checks it whole, as a host would, and serves it
/// all at once or not at all; its answer lists every check. Exit 3 when a check failed or the
/// token was refused, 4 when the hub cannot be reached, 1 for the rest (too large, busy, no feed).
/// </summary>
internal static class PushCommand
{
    public const string TokenVariable = "BELAY_HUB_TOKEN";

    public static Command Create()
    {
        var hub = new Option<string>("--hub") { Description = "The hub's URL, like https://hub.example.com/ (http:// on loopback only).", Required = true };
        var token = new Option<string?>("--token") { Description = $"An API token of an admin operator (belay-hub user token NAME); or {TokenVariable}, which ps does not show." };
        var feed = new Option<DirectoryInfo>("--feed") { Description = "The feed folder to push (default: the current folder).", DefaultValueFactory = _ => new DirectoryInfo(".") };
        var hubCa = new Option<FileInfo?>("--hub-ca") { Description = "A PEM CA to trust for the hub's certificate (a private CA); the host name is still checked." };
        var command = new Command("push", "Upload a feed folder to a hub (belay-hub serve --feed-dir): it checks everything as a host would, then serves all of it at once, or none.")
        {
            hub, token, feed, hubCa,
        };
        command.SetAction(async (result, cancel) =>
        {
            var url = result.GetRequiredValue(hub);
            HubSettings.CheckUrl(url, allowInsecureHttp: false);
            var apiToken = result.GetValue(token) ?? Environment.GetEnvironmentVariable(TokenVariable);
            if (string.IsNullOrWhiteSpace(apiToken))
            {
                throw new BelayException(ExitCodes.Usage, $"give an admin's API token with --token or {TokenVariable} (belay-hub user token NAME --name ci)");
            }
            string? caPem = null;
            if (result.GetValue(hubCa) is { } ca)
            {
                try
                {
                    caPem = File.ReadAllText(ca.FullName);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new BelayException(ExitCodes.Usage, $"--hub-ca {ca.FullName}: cannot read it: {SystemErrors.Describe(e)}", e);
                }
            }
            var dir = result.GetRequiredValue(feed).FullName;
            var bundle = Path.Combine(Path.GetTempPath(), $"belay-push-{Guid.NewGuid():N}.tar.gz");
            try
            {
                IReadOnlyList<string> files;
                await using (var output = new FileStream(bundle, FileMode.CreateNew, FileAccess.Write, FileShare.None))
                {
                    files = FeedBundle.Create(dir, output);
                }
                var size = new FileInfo(bundle).Length;
                Console.WriteLine($"pushing {dir} ({files.Count} files, {size} bytes compressed) to {url}");
                var answer = await SendAsync(url, apiToken.Trim(), caPem, bundle, cancel).ConfigureAwait(false);
                foreach (var line in answer.Answer.Report)
                {
                    Console.WriteLine(line);
                }
                if (answer.Status == HttpStatusCode.OK)
                {
                    Console.WriteLine(answer.Answer.Result);
                    return ExitCodes.Ok;
                }
                var why = answer.Answer.Error is { Length: > 0 } error ? error : $"HTTP {(int)answer.Status}";
                throw answer.Status switch
                {
                    HttpStatusCode.Unauthorized => BelayException.Trust($"the hub at {url} refused the token ({why}): give a live API token (belay-hub user token NAME)"),
                    HttpStatusCode.Forbidden => BelayException.Trust($"the hub at {url} refused the push: the token's operator is not an admin ({why})"),
                    _ when answer.Answer.Code == FeedPush.TrustCode => BelayException.Trust($"the hub at {url} {why}"),
                    HttpStatusCode.NotFound when answer.Answer.Code is null => new BelayException($"{url}{FeedPush.Path} is not there (HTTP 404): is {url} a Belay hub of this version?"),
                    _ => new BelayException($"the hub at {url} refused the push: {why}"),
                };
            }
            finally
            {
                File.Delete(bundle);
            }
        });
        return command;
    }

    private static async Task<(HttpStatusCode Status, FeedPushAnswer Answer)> SendAsync(string url, string token, string? caPem, string bundle, CancellationToken cancellationToken)
    {
        using var http = HubHttp.Client(caPem, TimeSpan.FromMinutes(30), "belay-release/" + BuildInfo.Version,
            handler => handler.Expect100ContinueTimeout = TimeSpan.FromSeconds(5));
        var endpoint = new Uri(new Uri(url.EndsWith('/') ? url : url + "/"), FeedPush.Path);
        await using var body = new FileStream(bundle, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, FileOptions.SequentialScan);
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new StreamContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(FeedPush.ContentType);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        // The hub refuses a wrong token or a too large feed before the body: without 100-continue
        // the client would be cut off mid-upload (a broken pipe) instead of reading why.
        request.Headers.ExpectContinue = true;
        var response = await HubHttp.SendAsync(http, request, url, cancellationToken).ConfigureAwait(false);
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            FeedPushAnswer? answer = null;
            try
            {
                answer = JsonSerializer.Deserialize(text, FeedPushJsonContext.Default.FeedPushAnswer);
            }
            catch (JsonException)
            {
            }
            return (response.StatusCode, answer ?? new FeedPushAnswer { Error = $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}" });
        }
    }
}
