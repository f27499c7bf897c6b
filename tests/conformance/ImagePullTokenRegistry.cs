using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace JailShim.Conformance;

/// <summary>
/// A registry front that speaks the Bearer token flow the way Docker Hub, ghcr.io and
/// registry.k8s.io do: /v2/ answers 401 with WWW-Authenticate: Bearer realm,service,scope;
/// /token hands out tokens for Basic credentials (GET) or a refresh token (OAuth2 POST);
/// with a token, manifests are served from the backing registry and blobs are redirected
/// to it (another host, like object storage). Listens on 127.0.0.1 only.
/// </summary>
public sealed class ImagePullTokenRegistry : IAsyncDisposable
{
    public const string Service = "jailshim-test";
    public const string RefreshToken = "refresh-7f3a";
    public const string StaticToken = "static-registry-token";

    private readonly HttpListener _listener = new();
    private readonly HttpClient _backing = new();
    private readonly ConcurrentDictionary<string, bool> _issued = new();
    private readonly Task _loop;
    private readonly string _user, _password;
    private readonly Registry _registry;

    public ImagePullTokenRegistry(Registry backing, string user, string password)
    {
        _registry = backing;
        _user = user;
        _password = password;
        for (int attempt = 0; ; attempt++)
        {
            Port = Registry.FreePort();
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            _listener.Prefixes.Add($"http://localhost:{Port}/");
            try
            {
                _listener.Start();
                break;
            }
            catch (HttpListenerException) when (attempt < 3) { }
        }
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }
    public string Host => $"127.0.0.1:{Port}";

    /// <summary>Every token request: "GET scope=...&service=..." or "POST grant_type=...".</summary>
    public ConcurrentQueue<string> TokenRequests { get; } = new();

    /// <summary>Authorization headers that reached a blob redirect target (must stay empty: ours never leave the registry).</summary>
    public ConcurrentQueue<string> LeakedAuthorization { get; } = new();

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            _ = Task.Run(async () =>
            {
                try { await HandleAsync(context); }
                catch (Exception) { context.Response.StatusCode = 500; }
                finally { try { context.Response.Close(); } catch (Exception) { } }
            });
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        HttpListenerRequest request = context.Request;
        HttpListenerResponse response = context.Response;
        string path = request.Url!.AbsolutePath;
        if (path == "/token")
        {
            await TokenAsync(request, response);
            return;
        }
        if (path.StartsWith("/storage/", StringComparison.Ordinal))
        {
            // The "object storage" a blob is redirected to: anything in Authorization here came along by mistake.
            if (request.Headers["Authorization"] is { } leaked) LeakedAuthorization.Enqueue(leaked);
            await ForwardAsync(request, response, "/v2/" + path["/storage/".Length..]);
            return;
        }
        string? authorization = request.Headers["Authorization"];
        string? token = authorization?.StartsWith("Bearer ", StringComparison.Ordinal) == true ? authorization[7..] : null;
        if (token is null || !(_issued.ContainsKey(token) || token == StaticToken))
        {
            string repository = path.StartsWith("/v2/", StringComparison.Ordinal) && path.IndexOf("/manifests/", StringComparison.Ordinal) is int m and > 0
                ? path[4..m] : path.StartsWith("/v2/", StringComparison.Ordinal) && path.IndexOf("/blobs/", StringComparison.Ordinal) is int b and > 0 ? path[4..b] : "";
            response.StatusCode = 401;
            response.Headers["WWW-Authenticate"] =
                $"Bearer realm=\"http://{Host}/token\",service=\"{Service}\"" + (repository.Length > 0 ? $",scope=\"repository:{repository}:pull\"" : "");
            await WriteJsonAsync(response, """{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}""");
            return;
        }
        int blobs = path.IndexOf("/blobs/", StringComparison.Ordinal);
        if (blobs > 0)
        {
            // Blobs live elsewhere (S3, a CDN): send the client there. Same process, but another origin (localhost, not 127.0.0.1).
            response.StatusCode = 307;
            response.RedirectLocation = $"http://localhost:{Port}/storage/{path[4..]}";
            return;
        }
        await ForwardAsync(request, response, path);
    }

    private async Task TokenAsync(HttpListenerRequest request, HttpListenerResponse response)
    {
        bool granted;
        if (request.HttpMethod == "POST")
        {
            string form = await new StreamReader(request.InputStream).ReadToEndAsync();
            var fields = form.Split('&').Select(p => p.Split('=', 2)).ToDictionary(p => Uri.UnescapeDataString(p[0]),
                p => p.Length > 1 ? Uri.UnescapeDataString(p[1].Replace('+', ' ')) : "");
            TokenRequests.Enqueue($"POST grant_type={fields.GetValueOrDefault("grant_type")}&scope={fields.GetValueOrDefault("scope")}&service={fields.GetValueOrDefault("service")}");
            granted = fields.GetValueOrDefault("grant_type") == "refresh_token" && fields.GetValueOrDefault("refresh_token") == RefreshToken;
        }
        else
        {
            TokenRequests.Enqueue($"GET scope={request.QueryString["scope"]}&service={request.QueryString["service"]}");
            string expected = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{_user}:{_password}"));
            granted = request.Headers["Authorization"] == expected;
        }
        if (!granted)
        {
            response.StatusCode = 401;
            await WriteJsonAsync(response, """{"details":"incorrect username or password"}""");
            return;
        }
        string token = "tok-" + Guid.NewGuid().ToString("N");
        _issued[token] = true;
        string key = request.HttpMethod == "POST" ? "access_token" : "token";
        await WriteJsonAsync(response, new JsonObject { [key] = token, ["expires_in"] = 300 }.ToJsonString());
    }

    private async Task ForwardAsync(HttpListenerRequest request, HttpListenerResponse response, string path)
    {
        using var forward = new HttpRequestMessage(HttpMethod.Get, $"http://{_registry.Host}{path}");
        if (request.Headers.GetValues("Accept") is { } accept)
            foreach (string a in accept) forward.Headers.Accept.ParseAdd(a);
        using HttpResponseMessage answer = await _backing.SendAsync(forward, HttpCompletionOption.ResponseHeadersRead);
        response.StatusCode = (int)answer.StatusCode;
        if (answer.Content.Headers.ContentType is { } type) response.ContentType = type.ToString();
        if (answer.Headers.TryGetValues("Docker-Content-Digest", out var digest)) response.Headers["Docker-Content-Digest"] = digest.First();
        if (answer.Content.Headers.ContentLength is long length) response.ContentLength64 = length;
        await using Stream body = await answer.Content.ReadAsStreamAsync();
        await body.CopyToAsync(response.OutputStream);
    }

    private static async Task WriteJsonAsync(HttpListenerResponse response, string json)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(json);
        response.ContentType = "application/json";
        response.ContentLength64 = bytes.Length;
        await response.OutputStream.WriteAsync(bytes);
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        try { await _loop; } catch (Exception) { }
        _backing.Dispose();
    }
}
