using System.Collections.Concurrent;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Antiforgery;

namespace Belay.Hub.Web;

/// <summary>
/// The web page: plain HTML, CSS and one script, embedded in the executable (Web/static), no
/// build step and nothing fetched from elsewhere. A page is its body file put into layout.html,
/// with the few values the server knows (the operator, the CSRF token) HTML-encoded into
/// <c>{{name}}</c> placeholders; everything else the script reads from /api/v1 and puts into the
/// DOM as text, never as markup (a hostile agent can name a program anything).
/// Every page goes out with a Content-Security-Policy that allows only this origin's script and
/// style, no inline script, no framing.
/// </summary>
internal static class Pages
{
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    private static readonly ConcurrentDictionary<string, (byte[] Bytes, string ETag)?> Files = new(StringComparer.Ordinal);

    /// <summary>An embedded file of Web/static, or null.</summary>
    public static (byte[] Bytes, string ETag)? File(string name) => Files.GetOrAdd(name, static n =>
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("web/" + n);
        if (stream is null)
        {
            return null;
        }
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        var bytes = copy.ToArray();
        return (bytes, "\"" + Convert.ToHexStringLower(SHA256.HashData(bytes))[..16] + "\"");
    });

    /// <summary>Renders <paramref name="page"/> (a body file) into the layout with <paramref name="values"/> HTML-encoded.</summary>
    public static string Render(string page, string title, IReadOnlyDictionary<string, string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var layout = Encoding.UTF8.GetString(File("layout.html")!.Value.Bytes);
        var body = Encoding.UTF8.GetString((File(page) ?? throw new InvalidOperationException($"no page {page}")).Bytes);
        var html = layout.Replace("{{body}}", body, StringComparison.Ordinal).Replace("{{title}}", HtmlEncoder.Default.Encode(title), StringComparison.Ordinal);
        foreach (var (name, value) in values)
        {
            html = html.Replace("{{" + name + "}}", HtmlEncoder.Default.Encode(value), StringComparison.Ordinal);
        }
        return html;
    }

    /// <summary>Writes a page for the signed-in (or anonymous) caller, with a fresh CSRF token.</summary>
    public static async Task WritePageAsync(HttpContext context, string page, string title, string pageName, IDictionary<string, string>? extra = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        var antiforgery = context.RequestServices.GetRequiredService<IAntiforgery>();
        var tokens = antiforgery.GetAndStoreTokens(context);
        var user = context.User.Identity?.IsAuthenticated == true ? context.User.Identity.Name ?? "" : "";
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["csrf"] = tokens.RequestToken ?? "",
            ["user"] = user,
            ["role"] = user.Length == 0 ? "" : Security.OperatorClaims.Role(context.User),
            ["page"] = pageName,
            ["version"] = BuildInfo.Version,
        };
        foreach (var (k, v) in extra ?? new Dictionary<string, string>())
        {
            values[k] = v;
        }
        var html = Render(page, title, values);
        SetHeaders(context.Response);
        context.Response.ContentType = "text/html; charset=utf-8";
        await context.Response.WriteAsync(html).ConfigureAwait(false);
    }

    public static Task WriteForbiddenAsync(HttpContext context) =>
        WritePageAsync(context, "forbidden.html", "Not allowed", "forbidden");

    public static void SetHeaders(HttpResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers["Referrer-Policy"] = "same-origin";
        response.Headers.XFrameOptions = "DENY";
        response.Headers.CacheControl = "no-store";
    }

    public static string ContentType(string name) => Path.GetExtension(name) switch
    {
        ".css" => "text/css; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".png" => "image/png",
        _ => "application/octet-stream",
    };
}
