using System.Text;

namespace JailShim.Runtime.Images.Registry;

/// <summary>
/// Credentials for one pull, in the forms a CRI AuthConfig (or a Docker config.json entry) carries them:
/// a user name and password, the same as "auth" (base64 of "user:password"), an identity token
/// (an OAuth2 refresh token, exchanged at the token server), or a registry token (a bearer token sent as is).
/// </summary>
public sealed record RegistryCredentials
{
    public string? Username { get; init; }
    public string? Password { get; init; }
    public string? IdentityToken { get; init; }
    public string? RegistryToken { get; init; }

    /// <summary>The registry these are for ("docker.io", "https://index.docker.io/v1/", "host:5000"); empty: whichever registry is pulled from.</summary>
    public string? ServerAddress { get; init; }

    public bool HasUserPassword => !string.IsNullOrEmpty(Username) && Password is not null;

    public bool IsEmpty => !HasUserPassword && string.IsNullOrEmpty(IdentityToken) && string.IsNullOrEmpty(RegistryToken);

    /// <summary>
    /// Builds credentials from the CRI AuthConfig fields. "auth" (base64 "user:password") fills
    /// user and password when those are not given separately. Null when nothing is set.
    /// </summary>
    public static RegistryCredentials? From(string? username, string? password, string? auth, string? identityToken,
        string? registryToken, string? serverAddress)
    {
        if (string.IsNullOrEmpty(username) && !string.IsNullOrEmpty(auth))
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(auth.Trim()));
            }
            catch (FormatException)
            {
                throw EngineException.Invalid("auth.auth", "is not base64 of \"user:password\"");
            }
            int colon = decoded.IndexOf(':');
            if (colon <= 0) throw EngineException.Invalid("auth.auth", "does not decode to \"user:password\"");
            username = decoded[..colon];
            password = decoded[(colon + 1)..];
        }
        var credentials = new RegistryCredentials
        {
            Username = NullIfEmpty(username),
            Password = string.IsNullOrEmpty(username) ? null : password ?? "",
            IdentityToken = NullIfEmpty(identityToken),
            RegistryToken = NullIfEmpty(registryToken),
            ServerAddress = NullIfEmpty(serverAddress),
        };
        return credentials.IsEmpty ? null : credentials;
    }

    /// <summary>True when these credentials may be sent to <paramref name="host"/> (host[:port] as in an image name).</summary>
    public bool AppliesTo(string host)
    {
        if (ServerAddress is null) return true;
        return RegistryHosts.Canonical(RegistryHosts.HostOfServerAddress(ServerAddress)) == RegistryHosts.Canonical(host);
    }

    // Never print secrets (records print every property by default).
    public override string ToString() =>
        $"RegistryCredentials {{ Username = {Username}, ServerAddress = {ServerAddress}, " +
        $"Password = {(Password is null ? "none" : "***")}, IdentityToken = {(IdentityToken is null ? "none" : "***")}, " +
        $"RegistryToken = {(RegistryToken is null ? "none" : "***")} }}";

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
