using JailShim.Runtime.Images;

namespace JailShim.Runtime.Tests.Images;

/// <summary>Usage is counted like du: allocated blocks, each inode once, symlinks not followed.</summary>
public sealed class ImageFsUsageTests : IDisposable
{
    private readonly ImageTestDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Measure_CountsInodesOnceAndDoesNotFollowLinks()
    {
        string root = _dir.Sub("root");
        Directory.CreateDirectory(Path.Combine(root, "sub"));
        File.WriteAllBytes(Path.Combine(root, "sub", "data"), new byte[100_000]);
        File.CreateSymbolicLink(Path.Combine(root, "to-host"), "/usr");   // must not be walked
        HardLink(Path.Combine(root, "sub", "data"), Path.Combine(root, "again"));

        ImageFsUsage usage = ImageFsUsage.Measure(root);

        Assert.Equal(4, usage.InodesUsed); // root, sub, data (twice by name), to-host
        Assert.InRange(usage.UsedBytes, 100_000, 100_000 + 4 * 65536);
    }

    [Fact]
    public void Measure_MissingRootIsZero() =>
        Assert.Equal(new ImageFsUsage(0, 0), ImageFsUsage.Measure(_dir.Sub("absent")));

    private static unsafe void HardLink(string target, string link)
    {
        fixed (byte* t = System.Text.Encoding.UTF8.GetBytes(target + "\0"))
        fixed (byte* l = System.Text.Encoding.UTF8.GetBytes(link + "\0"))
        {
            if (Tmds.Linux.LibC.link(t, l) != 0) throw new IOException($"link {link} -> {target} failed");
        }
    }
}
