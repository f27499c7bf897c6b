using System.IO.Compression;
using ZstdSharp;

namespace JailShim.Runtime.Images.Registry;

/// <summary>
/// Opens a stored layer blob as the tar inside it. The compression is read from the blob's first
/// bytes rather than trusted from the media type (registries and tools mislabel uncompressed
/// Docker layers as gzip): gzip (1f 8b), zstd (28 b5 2f fd), anything else is read as a plain tar.
/// </summary>
internal static class LayerDecompressor
{
    public enum Kind { Tar, Gzip, Zstd }

    public static Kind Detect(ReadOnlySpan<byte> head) => head switch
    {
        [0x1f, 0x8b, ..] => Kind.Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Kind.Zstd,
        _ => Kind.Tar,
    };

    /// <summary>Wraps the seekable <paramref name="blob"/> (it is rewound after the sniff) in the right decompressor; disposing the result closes the blob.</summary>
    public static Stream Open(Stream blob)
    {
        Span<byte> head = stackalloc byte[4];
        int n = blob.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        blob.Seek(0, SeekOrigin.Begin);
        return Detect(head[..n]) switch
        {
            Kind.Gzip => new GZipStream(blob, CompressionMode.Decompress, leaveOpen: false),
            Kind.Zstd => new DecompressionStream(blob, leaveOpen: false),
            _ => blob,
        };
    }
}
