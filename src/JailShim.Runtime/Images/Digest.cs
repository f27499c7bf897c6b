using System.Security.Cryptography;

namespace JailShim.Runtime.Images;

/// <summary>Content digests as the OCI spec writes them: "sha256:" + 64 lowercase hex.</summary>
internal static class Digest
{
    public const string Sha256Prefix = "sha256:";

    public static bool IsHex(string s) => s.Length > 0 && s.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');

    public static bool IsSha256(string digest) =>
        digest.Length == Sha256Prefix.Length + 64 && digest.StartsWith(Sha256Prefix, StringComparison.Ordinal) && IsHex(digest[Sha256Prefix.Length..]);

    /// <summary>The hex part of a digest, after checking it is a well-formed sha256 digest (it becomes a file name).</summary>
    public static string Hex(string digest)
    {
        if (!IsSha256(digest)) throw new FormatException($"'{digest}' is not a sha256 digest (sha256:<64 lowercase hex>)");
        return digest[Sha256Prefix.Length..];
    }

    public static string FromHash(byte[] hash) => Sha256Prefix + Convert.ToHexStringLower(hash);

    public static string Of(ReadOnlySpan<byte> data) => FromHash(SHA256.HashData(data));
}
