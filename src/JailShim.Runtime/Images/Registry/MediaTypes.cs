namespace JailShim.Runtime.Images.Registry;

/// <summary>The manifest, config and layer media types a pull understands.</summary>
internal static class MediaTypes
{
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
    public const string DockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";

    /// <summary>The Accept header of a manifest request: every form we read, lists first.</summary>
    public static readonly string[] ManifestAccept = [OciIndex, DockerManifestList, OciManifest, DockerManifest];

    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;

    public static bool IsManifest(string? mediaType) => mediaType is OciManifest or DockerManifest;

    public static bool IsSchema1(string? mediaType) => mediaType is DockerSchema1 or DockerSchema1Signed;

    public static bool IsImageConfig(string? mediaType) => mediaType is DockerConfig or OciConfig;

    /// <summary>
    /// Layer types we can unpack: tar, tar+gzip, tar+zstd (OCI), Docker's rootfs diffs, and the
    /// OCI "nondistributable" variants (the same tars; the registry usually has them anyway).
    /// Encrypted and foreign (Windows) layers are not.
    /// </summary>
    public static bool IsUnpackableLayer(string? mediaType) => mediaType is
        "application/vnd.oci.image.layer.v1.tar" or
        "application/vnd.oci.image.layer.v1.tar+gzip" or
        "application/vnd.oci.image.layer.v1.tar+zstd" or
        "application/vnd.oci.image.layer.nondistributable.v1.tar" or
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" or
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" or
        "application/vnd.docker.image.rootfs.diff.tar" or
        "application/vnd.docker.image.rootfs.diff.tar.gzip" or
        "application/vnd.docker.image.rootfs.diff.tar.zstd";
}
