using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace JailShim.Runtime.Images.Registry;

/// <summary>
/// An image manifest found for a reference: the endpoint session that served it (blobs come
/// from the same place), the digest the reference resolved to (a list's, for a multi-platform
/// image: what repo_digests report) and the platform manifest's own digest and bytes.
/// </summary>
internal sealed record ResolvedImage(
    RegistrySession Session, string ReferenceDigest, string ManifestDigest, byte[] ManifestBytes, ManifestDocument Manifest);

/// <summary>
/// Turns "name:tag" or "name@digest" into an image manifest: tries the registry's mirrors in
/// order and then the registry itself, verifies every manifest against the digest it was asked
/// by (or the registry's Docker-Content-Digest), and walks manifest lists / OCI indexes to the
/// entry for this host's platform.
/// </summary>
internal static class ManifestResolver
{
    private const int MaxIndexDepth = 2;

    public static async Task<ResolvedImage> ResolveAsync(RegistryClient client, ImageReference reference,
        RegistryCredentials? credentials, ILogger logger, CancellationToken ct)
    {
        IReadOnlyList<RegistryEndpoint> endpoints = client.Hosts.EndpointsFor(reference.Domain, credentials);
        var mirrorFailures = new List<string>();
        foreach (RegistryEndpoint endpoint in endpoints)
        {
            RegistrySession session = client.Open(endpoint, reference.Path);
            try
            {
                return await ResolveOnAsync(session, reference, ct).ConfigureAwait(false);
            }
            catch (EngineException e) when (endpoint.IsMirror)
            {
                // containerd's rule: any failure of a mirror moves on to the next endpoint, the registry itself last.
                logger.LogInformation("pull {Reference}: {Endpoint} failed, trying the next endpoint: {Error}", reference, endpoint, e.Message);
                mirrorFailures.Add(e.Message);
            }
            catch (EngineException e) when (mirrorFailures.Count > 0)
            {
                throw new EngineException(e.Kind, $"{e.Message} (after the mirrors failed: {string.Join("; ", mirrorFailures)})", e);
            }
        }
        throw new InvalidOperationException("unreachable: the registry itself is always the last endpoint");
    }

    private static async Task<ResolvedImage> ResolveOnAsync(RegistrySession session, ImageReference reference, CancellationToken ct)
    {
        FetchedManifest top = await session.GetManifestAsync(reference.Digest ?? reference.Tag!, ct).ConfigureAwait(false);
        string topDigest = Verify(session, top, reference.Digest, null, "manifest");
        ManifestDocument document = Parse(session, top.Body, topDigest);
        string mediaType = Classify(document, top.ContentType);

        string digest = topDigest;
        byte[] body = top.Body;
        for (int depth = 0; MediaTypes.IsIndex(mediaType); depth++)
        {
            if (depth >= MaxIndexDepth)
                throw new EngineException(EngineErrorKind.FailedPrecondition, $"{session.Endpoint}: manifest lists nested more than {MaxIndexDepth} deep");
            List<RegistryDescriptor> entries = document.Manifests ?? [];
            RegistryDescriptor picked = HostPlatform.Pick(entries) ?? throw new EngineException(EngineErrorKind.NotFound,
                $"{session.Endpoint}: {reference} has no image for {HostPlatform.Name}; its manifest list offers " +
                (entries.Count == 0 ? "nothing" : string.Join(", ", entries.Select(e => e.Platform?.ToString() ?? "(no platform)").Distinct())));
            if (picked.Digest is not { } childDigest || !Digest.IsSha256(childDigest))
                throw new EngineException(EngineErrorKind.FailedPrecondition,
                    $"{session.Endpoint}: manifest list entry for {picked.Platform} has digest '{picked.Digest}', not a sha256 digest");

            FetchedManifest child = await session.GetManifestAsync(childDigest, ct).ConfigureAwait(false);
            Verify(session, child, childDigest, picked.Size, "manifest");
            document = Parse(session, child.Body, childDigest);
            mediaType = Classify(document, child.ContentType);
            digest = childDigest;
            body = child.Body;
        }

        if (MediaTypes.IsSchema1(mediaType))
            throw new EngineException(EngineErrorKind.FailedPrecondition,
                $"{session.Endpoint}: {reference} is a Docker schema 1 image, which is not supported (push it again with a current tool)");
        if (!MediaTypes.IsManifest(mediaType))
            throw new EngineException(EngineErrorKind.FailedPrecondition,
                $"{session.Endpoint}: {reference} is not an image manifest (media type '{mediaType}')");
        return new ResolvedImage(session, topDigest, digest, body, document);
    }

    /// <summary>The content's digest, after checking it against the one asked for and the one the registry claims.</summary>
    private static string Verify(RegistrySession session, FetchedManifest fetched, string? expected, long? expectedSize, string what)
    {
        string actual = Digest.Of(fetched.Body);
        if (expected is not null && actual != expected)
            throw new EngineException(EngineErrorKind.DataLoss,
                $"{session.Endpoint}: digest mismatch: {what} {expected} of {session.Repository} has content {actual}");
        if (expectedSize is > 0 && fetched.Body.Length != expectedSize)
            throw new EngineException(EngineErrorKind.DataLoss,
                $"{session.Endpoint}: size mismatch: {what} {expected} is {fetched.Body.Length} bytes, its list says {expectedSize}");
        if (fetched.DockerContentDigest is { } claimed && Digest.IsSha256(claimed) && claimed != actual)
            throw new EngineException(EngineErrorKind.DataLoss,
                $"{session.Endpoint}: digest mismatch: the registry says {what} of {session.Repository} is {claimed}, its content is {actual}");
        return actual;
    }

    private static ManifestDocument Parse(RegistrySession session, byte[] body, string digest)
    {
        try
        {
            return JsonSerializer.Deserialize(body, RegistryJsonContext.Default.ManifestDocument)
                ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            throw new EngineException(EngineErrorKind.FailedPrecondition, $"{session.Endpoint}: manifest {digest} is not valid JSON: {e.Message}");
        }
    }

    /// <summary>The manifest's media type: its own field, else the response's Content-Type, else guessed from its shape (OCI allows omitting it).</summary>
    private static string Classify(ManifestDocument document, string? contentType)
    {
        if (!string.IsNullOrEmpty(document.MediaType)) return document.MediaType;
        if (contentType is not null && (MediaTypes.IsIndex(contentType) || MediaTypes.IsManifest(contentType) || MediaTypes.IsSchema1(contentType)))
            return contentType;
        if (document.SchemaVersion == 1) return MediaTypes.DockerSchema1;
        if (document.Manifests is not null) return MediaTypes.OciIndex;
        if (document.Layers is not null && document.Config is not null) return MediaTypes.OciManifest;
        return contentType ?? "(none)";
    }
}
