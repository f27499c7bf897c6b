namespace JailShim.Runtime.Images.Registry;

/// <summary>
/// One place to fetch a registry's content from: the registry itself or one of its mirrors,
/// with the scheme already decided and the credentials to offer it (if any).
/// </summary>
/// <param name="BaseUri">"https://registry-1.docker.io/", "http://127.0.0.1:5000/": the /v2/ API hangs off it.</param>
/// <param name="IsMirror">False for the registry named in the image reference.</param>
internal sealed record RegistryEndpoint(Uri BaseUri, bool IsMirror, RegistryCredentials? Credentials)
{
    /// <summary>host[:port] as it appears in messages.</summary>
    public string Name => BaseUri.IsDefaultPort ? BaseUri.Host : BaseUri.Authority;

    public Uri Api(string relative) => new(BaseUri, "/v2/" + relative);

    public override string ToString() => (IsMirror ? "mirror " : "") + BaseUri.GetLeftPart(UriPartial.Authority);
}
