namespace JailShim.Runtime.Images;

/// <summary>An image laid out in a directory (an OCI image layout, or an unpacked <c>docker save</c>).</summary>
internal sealed class DirectoryImageSource(string dir) : ImageSource
{
    public override string Description => dir;

    public override bool Exists(string path) => File.Exists(PathOf(path));

    public override Stream Open(string path)
    {
        string file = PathOf(path);
        if (!File.Exists(file)) throw Missing(path);
        return new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
    }

    private string PathOf(string path) => Path.Join(dir, Clean(path));
}
