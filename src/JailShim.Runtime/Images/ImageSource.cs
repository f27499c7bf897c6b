namespace JailShim.Runtime.Images;

/// <summary>
/// Files of an image on disk, by their path inside it ("index.json", "blobs/sha256/…"):
/// a directory (an OCI image layout) or a tar archive (<c>docker save</c>, or a tarred layout).
/// The readers see both the same way.
/// </summary>
internal abstract class ImageSource : IDisposable
{
    /// <summary>JSON documents (index, manifests, configs) are read whole; none is near this big.</summary>
    public const int MaxDocumentBytes = 16 << 20;

    /// <summary>Where it came from, for error messages.</summary>
    public abstract string Description { get; }

    public abstract bool Exists(string path);

    /// <summary>Opens a file for reading; the stream is seekable. Throws <see cref="InvalidDataException"/> naming a missing path.</summary>
    public abstract Stream Open(string path);

    /// <summary>A directory or a tar file; a gzip'd tar is decompressed into <paramref name="tempDir"/> first.</summary>
    public static ImageSource OpenPath(string path, string tempDir)
    {
        if (Directory.Exists(path)) return new DirectoryImageSource(path);
        if (File.Exists(path)) return TarImageSource.OpenArchive(path, tempDir);
        throw new FileNotFoundException($"{path}: no such file or directory", path);
    }

    public byte[] ReadAll(string path)
    {
        using Stream stream = Open(path);
        if (stream.Length > MaxDocumentBytes)
            throw new InvalidDataException($"{Description}: {path} is {stream.Length} bytes; a JSON document of more than {MaxDocumentBytes >> 20} MiB is refused");
        var buffer = new byte[stream.Length];
        stream.ReadExactly(buffer);
        return buffer;
    }

    /// <summary>A path inside the image, with "." and "./" dropped; one that leaves the image is refused.</summary>
    protected string Clean(string path)
    {
        try
        {
            return string.Join('/', LayerPath.Split(path, path));
        }
        catch (UnsafeLayerEntryException)
        {
            throw new InvalidDataException($"{Description}: path '{path}' leaves the image");
        }
    }

    protected InvalidDataException Missing(string path) => new($"{Description}: {path} is missing");

    public virtual void Dispose() { }
}
