using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace JailShim.Runtime.Images.Registry;

/// <summary>
/// The OCI distribution client: one <see cref="HttpClient"/> over one <see cref="SocketsHttpHandler"/>
/// for the whole daemon (connections pooled per registry), the registry settings, and the bearer
/// tokens fetched so far (cached per realm, scope and credentials, until they expire).
/// One pull talks to one endpoint through a <see cref="RegistrySession"/>.
/// </summary>
public sealed class RegistryClient : IDisposable
{
    /// <summary>How long to wait for a registry's response headers (not for a body to stream).</summary>
    internal static readonly TimeSpan ResponseTimeout = TimeSpan.FromSeconds(60);

    private readonly HttpClient _http;
    private readonly ConcurrentDictionary<string, (AuthenticationHeaderValue Header, DateTime Expires)> _tokens = new();

    public RegistryClient(RegistryHosts? hosts = null, HttpMessageHandler? handler = null)
    {
        Hosts = hosts ?? new RegistryHosts();
        _http = new HttpClient(handler ?? new SocketsHttpHandler
        {
            // Redirects are followed by hand: a blob redirect to storage must not carry our Authorization header.
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(15),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90),
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
        }, disposeHandler: true)
        {
            Timeout = Timeout.InfiniteTimeSpan, // a large layer takes as long as it takes; header waits have their own limit
        };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("jailshim", "0.1"));
    }

    public RegistryHosts Hosts { get; }

    internal HttpClient Http => _http;

    internal RegistrySession Open(RegistryEndpoint endpoint, string repository) => new(this, endpoint, repository);

    /// <summary>
    /// A bearer token for <paramref name="scope"/> from the challenge's realm: GET with Basic credentials
    /// (Docker's token flow), or POST of a refresh token when the credentials carry an identity token (OAuth2).
    /// </summary>
    internal async Task<AuthenticationHeaderValue> GetTokenAsync(RegistryEndpoint endpoint, AuthChallenge challenge, string scope,
        CancellationToken ct)
    {
        RegistryCredentials? credentials = endpoint.Credentials;
        string realm = challenge["realm"] is { Length: > 0 } r ? r
            : throw new EngineException(EngineErrorKind.Unauthenticated, $"{endpoint}: bearer challenge without a realm: {challenge}");
        string? service = challenge["service"];
        if (!Uri.TryCreate(realm, UriKind.Absolute, out Uri? realmUri) || realmUri.Scheme is not ("https" or "http"))
            throw new EngineException(EngineErrorKind.Unauthenticated, $"{endpoint}: token realm '{realm}' is not an http(s) URL");
        if (realmUri.Scheme == "http" && !Hosts.PlainHttpAllowed(realmUri.IsDefaultPort ? realmUri.Host : realmUri.Authority))
            throw new EngineException(EngineErrorKind.Unauthenticated,
                $"{endpoint}: token realm {realm} is plain HTTP on a host that is neither loopback nor configured insecure");

        string key = $"{realm}|{service}|{scope}|{CredentialKey(credentials)}";
        if (_tokens.TryGetValue(key, out var cached) && cached.Expires > DateTime.UtcNow) return cached.Header;

        var query = new List<string>();
        if (!string.IsNullOrEmpty(service)) query.Add("service=" + Uri.EscapeDataString(service));
        query.Add("scope=" + Uri.EscapeDataString(scope));
        using var request = new HttpRequestMessage();
        if (credentials?.IdentityToken is { } refreshToken)
        {
            request.Method = HttpMethod.Post;
            request.RequestUri = realmUri;
            request.Content = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "refresh_token",
                ["refresh_token"] = refreshToken,
                ["service"] = service ?? "",
                ["scope"] = scope,
                ["client_id"] = "jailshim",
            });
        }
        else
        {
            if (credentials?.HasUserPassword == true) query.Add("account=" + Uri.EscapeDataString(credentials.Username!));
            request.Method = HttpMethod.Get;
            request.RequestUri = new UriBuilder(realmUri) { Query = (realmUri.Query.TrimStart('?') is { Length: > 0 } q ? q + "&" : "") + string.Join("&", query) }.Uri;
            if (credentials?.HasUserPassword == true) request.Headers.Authorization = Basic(credentials);
        }

        using HttpResponseMessage response = await SendOnceAsync(request, $"token server {realmUri.GetLeftPart(UriPartial.Authority)}", ct)
            .ConfigureAwait(false);
        string body = await ReadTextAsync(response, 1 << 20, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            EngineErrorKind kind = (int)response.StatusCode >= 500 || response.StatusCode == HttpStatusCode.TooManyRequests
                ? EngineErrorKind.Unavailable : EngineErrorKind.Unauthenticated;
            string who = credentials is null ? "anonymous access" : $"the credentials for {endpoint.Name}";
            throw new EngineException(kind,
                $"token server {realmUri.GetLeftPart(UriPartial.Path)} refused {who} ({scope}): {(int)response.StatusCode} {Summarize(body)}");
        }
        TokenResponse? parsed;
        try
        {
            parsed = JsonSerializer.Deserialize(body, RegistryJsonContext.Default.TokenResponse);
        }
        catch (JsonException e)
        {
            throw new EngineException(EngineErrorKind.Unauthenticated, $"token server {realm} answered something that is not a token: {e.Message}");
        }
        string token = parsed?.Token is { Length: > 0 } t ? t : parsed?.AccessToken is { Length: > 0 } a ? a
            : throw new EngineException(EngineErrorKind.Unauthenticated, $"token server {realm} answered without a token");
        var header = new AuthenticationHeaderValue("Bearer", token);
        // Registries default to 60 s; keep a margin so a token never expires in flight.
        int lifetime = Math.Max(parsed!.ExpiresIn ?? 60, 60);
        _tokens[key] = (header, DateTime.UtcNow.AddSeconds(lifetime - 10));
        return header;
    }

    /// <summary>Sends one request; a network failure or a registry that does not answer becomes <see cref="EngineErrorKind.Unavailable"/>.</summary>
    internal async Task<HttpResponseMessage> SendOnceAsync(HttpRequestMessage request, string who, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ResponseTimeout);
        try
        {
            return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new EngineException(EngineErrorKind.Unavailable, $"{who} is unreachable: {Flatten(e)}", e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new EngineException(EngineErrorKind.Unavailable, $"{who} did not answer within {ResponseTimeout.TotalSeconds:0} s", e);
        }
    }

    internal static AuthenticationHeaderValue Basic(RegistryCredentials credentials) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credentials.Username}:{credentials.Password}")));

    /// <summary>Reads at most <paramref name="limit"/> bytes of a (small, textual) body: error bodies and token answers.</summary>
    internal static async Task<string> ReadTextAsync(HttpResponseMessage response, int limit, CancellationToken ct)
    {
        try
        {
            await using Stream body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            byte[] buffer = new byte[limit];
            int n = await body.ReadAtLeastAsync(buffer, limit, throwOnEndOfStream: false, ct).ConfigureAwait(false);
            return Encoding.UTF8.GetString(buffer, 0, n);
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return "";
        }
    }

    /// <summary>The registry's own words for an error: "CODE: message" from its JSON error body, else the start of the body.</summary>
    internal static string Summarize(string body)
    {
        if (body.Length == 0) return "(no body)";
        try
        {
            if (JsonSerializer.Deserialize(body, RegistryJsonContext.Default.RegistryErrorBody)?.Errors is { Count: > 0 } errors)
                return string.Join("; ", errors.Select(e => $"{e.Code}: {e.Message}"));
        }
        catch (JsonException) { }
        string text = body.ReplaceLineEndings(" ").Trim();
        return text.Length > 200 ? text[..200] + "..." : text;
    }

    internal static string Flatten(Exception e)
    {
        var parts = new List<string>();
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (parts.Count == 0 || !parts[^1].Contains(x.Message, StringComparison.Ordinal)) parts.Add(x.Message);
        return string.Join(": ", parts);
    }

    private static string CredentialKey(RegistryCredentials? c)
    {
        if (c is null) return "anonymous";
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{c.Username}\0{c.Password}\0{c.IdentityToken}\0{c.RegistryToken}"));
        return Convert.ToHexString(hash, 0, 16);
    }

    public void Dispose() => _http.Dispose();
}
