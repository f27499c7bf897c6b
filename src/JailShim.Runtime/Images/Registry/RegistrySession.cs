using System.Net;
using System.Net.Http.Headers;

namespace JailShim.Runtime.Images.Registry;

/// <summary>A manifest as fetched: its exact bytes (they are what the digest covers) and what the registry said about them.</summary>
internal sealed record FetchedManifest(byte[] Body, string? ContentType, string? DockerContentDigest);

/// <summary>
/// One repository on one endpoint, for the length of a pull: fetches manifests and blobs over
/// the distribution API, answers 401 challenges (Basic, or Bearer through the token server) once
/// per session, follows blob redirects without carrying our Authorization header to other hosts,
/// and turns HTTP failures into engine errors a person can act on.
/// </summary>
internal sealed class RegistrySession(RegistryClient client, RegistryEndpoint endpoint, string repository)
{
    public const int MaxManifestBytes = 4 << 20;
    private const int MaxRedirects = 10;

    private AuthenticationHeaderValue? _auth;

    public RegistryEndpoint Endpoint => endpoint;

    public string Repository => repository;

    private string Scope => $"repository:{repository}:pull";

    /// <summary>GET /v2/NAME/manifests/REF (a tag or a digest), asking for every manifest form we read.</summary>
    public async Task<FetchedManifest> GetManifestAsync(string reference, CancellationToken ct)
    {
        string what = $"manifest '{reference}' of {repository}";
        using HttpResponseMessage response = await GetAsync(endpoint.Api($"{repository}/manifests/{reference}"), what, manifest: true, ct)
            .ConfigureAwait(false);
        if (response.Content.Headers.ContentLength is > MaxManifestBytes)
            throw TooBig(what);
        await using Stream body = new BoundedStream(await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false),
            MaxManifestBytes, () => TooBig(what));
        using var copy = new MemoryStream();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(RegistryClient.ResponseTimeout);
        try
        {
            await body.CopyToAsync(copy, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            throw new EngineException(EngineErrorKind.Unavailable, $"{endpoint}: reading {what} failed: {RegistryClient.Flatten(e)}", e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new EngineException(EngineErrorKind.Unavailable,
                $"{endpoint}: {what} did not arrive within {RegistryClient.ResponseTimeout.TotalSeconds:0} s", e);
        }
        string? digestHeader = response.Headers.TryGetValues("Docker-Content-Digest", out var values) ? values.FirstOrDefault() : null;
        return new FetchedManifest(copy.ToArray(), response.Content.Headers.ContentType?.MediaType, digestHeader);
    }

    /// <summary>GET /v2/NAME/blobs/DIGEST, following redirects. The caller disposes the response.</summary>
    public Task<HttpResponseMessage> GetBlobAsync(string digest, CancellationToken ct) =>
        GetAsync(endpoint.Api($"{repository}/blobs/{digest}"), $"blob {digest} of {repository}", manifest: false, ct);

    private async Task<HttpResponseMessage> GetAsync(Uri uri, string what, bool manifest, CancellationToken ct)
    {
        bool authenticated = false;
        int redirects = 0;
        Uri current = uri;
        while (true)
        {
            bool ours = current.Scheme == endpoint.BaseUri.Scheme && current.Authority == endpoint.BaseUri.Authority;
            using var request = new HttpRequestMessage(HttpMethod.Get, current);
            if (manifest)
                foreach (string type in MediaTypes.ManifestAccept) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
            // Our credentials go to the registry only, never to wherever it redirects a blob (object storage, a CDN).
            if (ours && _auth is not null) request.Headers.Authorization = _auth;
            HttpResponseMessage response = await client.SendOnceAsync(request, ours ? endpoint.ToString() : current.GetLeftPart(UriPartial.Authority), ct)
                .ConfigureAwait(false);

            if (IsRedirect(response.StatusCode) && response.Headers.Location is { } location)
            {
                response.Dispose();
                if (++redirects > MaxRedirects) throw new EngineException(EngineErrorKind.Unavailable, $"{endpoint}: too many redirects for {what}");
                current = location.IsAbsoluteUri ? location : new Uri(current, location);
                if (current.Scheme is not ("http" or "https"))
                    throw new EngineException(EngineErrorKind.FailedPrecondition, $"{endpoint}: {what} redirects to a {current.Scheme}: URL");
                if (current.Scheme == "http" && uri.Scheme == "https")
                    throw new EngineException(EngineErrorKind.FailedPrecondition, $"{endpoint}: {what} redirects from HTTPS to plain HTTP ({current.GetLeftPart(UriPartial.Authority)})");
                continue;
            }

            if (response.StatusCode == HttpStatusCode.Unauthorized && ours && !authenticated)
            {
                IReadOnlyList<AuthChallenge> challenges = AuthChallenge.From(response);
                response.Dispose();
                _auth = await AuthenticateAsync(challenges, what, ct).ConfigureAwait(false);
                authenticated = true;
                continue;
            }

            if (response.IsSuccessStatusCode) return response;
            using (response) throw await ErrorAsync(response, what, ct).ConfigureAwait(false);
        }
    }

    private async Task<AuthenticationHeaderValue> AuthenticateAsync(IReadOnlyList<AuthChallenge> challenges, string what, CancellationToken ct)
    {
        RegistryCredentials? credentials = endpoint.Credentials;
        if (challenges.FirstOrDefault(c => c.IsBearer) is { } bearer)
        {
            if (credentials?.RegistryToken is { } token) return new AuthenticationHeaderValue("Bearer", token);
            return await client.GetTokenAsync(endpoint, bearer, Scope, ct).ConfigureAwait(false);
        }
        if (challenges.Any(c => c.IsBasic))
        {
            if (credentials?.HasUserPassword == true) return RegistryClient.Basic(credentials);
            throw new EngineException(EngineErrorKind.Unauthenticated,
                $"{endpoint}: {what} needs credentials (basic auth) and the pull has none for {endpoint.Name}");
        }
        throw new EngineException(EngineErrorKind.Unauthenticated,
            $"{endpoint}: {what} needs authentication this client does not speak " +
            $"({(challenges.Count == 0 ? "no WWW-Authenticate challenge" : string.Join("; ", challenges))})");
    }

    private async Task<EngineException> ErrorAsync(HttpResponseMessage response, string what, CancellationToken ct)
    {
        string detail = RegistryClient.Summarize(await RegistryClient.ReadTextAsync(response, 64 << 10, ct).ConfigureAwait(false));
        int status = (int)response.StatusCode;
        string said = $"{status} {detail}";
        return response.StatusCode switch
        {
            HttpStatusCode.Unauthorized => new EngineException(EngineErrorKind.Unauthenticated, endpoint.Credentials is null
                ? $"{endpoint}: not authorized to pull {repository} without credentials ({said})"
                : $"{endpoint}: the credentials for {endpoint.Name} were refused for {repository} ({said})"),
            HttpStatusCode.Forbidden => new EngineException(EngineErrorKind.PermissionDenied,
                $"{endpoint}: access to {what} denied ({said})"),
            HttpStatusCode.NotFound => new EngineException(EngineErrorKind.NotFound, $"{endpoint}: {what} not found ({said})"),
            HttpStatusCode.TooManyRequests => new EngineException(EngineErrorKind.Unavailable, $"{endpoint}: rate limited fetching {what} ({said})"),
            _ when status >= 500 => new EngineException(EngineErrorKind.Unavailable, $"{endpoint}: server error fetching {what} ({said})"),
            _ => new EngineException(EngineErrorKind.FailedPrecondition, $"{endpoint}: fetching {what} failed ({said})"),
        };
    }

    private static bool IsRedirect(HttpStatusCode code) => code is HttpStatusCode.MovedPermanently or HttpStatusCode.Found
        or HttpStatusCode.SeeOther or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    private EngineException TooBig(string what) =>
        new(EngineErrorKind.FailedPrecondition, $"{endpoint}: {what} is larger than {MaxManifestBytes >> 20} MiB");
}
