using JailShim.Runtime.Images;
using static Tmds.Linux.LibC;

namespace JailShim.Runtime.Tests.Images;

/// <summary>
/// The unpacker against real tars built here: metadata kept, overlay whiteouts
/// made, and hostile entries refused with nothing written outside the layer.
/// Needs root (lchown, mknod, trusted.* xattrs), which the test machines have.
/// </summary>
public sealed class LayerUnpackerTests : IDisposable
{
    private readonly ImageTestDir _dir = new();
    private readonly string _layer;

    public LayerUnpackerTests()
    {
        _layer = _dir.Sub("layer");
        Directory.CreateDirectory(_layer);
    }

    public void Dispose() => _dir.Dispose();

    private void Unpack(LayerTestTar tar) => LayerUnpacker.Unpack(new MemoryStream(tar.ToArray()), _layer);

    /// <summary>What sits next to the layer in the scratch dir: an escape would land there (".." or a link to the scratch dir). Not recursive: the layer's own links would loop.</summary>
    private string[] Outside() =>
        [.. Directory.EnumerateFileSystemEntries(_dir.Path).Where(p => p != _layer)];

    [Fact]
    public void Unpack_KeepsModesOwnersTimesAndKinds()
    {
        var old = new DateTimeOffset(2001, 2, 3, 4, 5, 6, TimeSpan.Zero);
        Unpack(new LayerTestTar()
            .Dir("./", mode: 0x1ED)
            .Dir("usr/", mode: 0x1ED, mtime: old)
            .Dir("usr/bin/", mode: 0x1E8, uid: 12, gid: 34, mtime: old)            // 0750
            .File("usr/bin/tool", "#!/bin/sh\n", mode: 0x9ED, uid: 1000, gid: 1000, mtime: old) // 04755
            .Symlink("usr/bin/alias", "tool", uid: 7, gid: 8)
            .Hardlink("usr/bin/same", "usr/bin/tool")
            .CharDevice("dev-null", 1, 3)
            .Fifo("pipe"));

        string tool = Path.Combine(_layer, "usr/bin/tool");
        Assert.Equal("#!/bin/sh\n", File.ReadAllText(tool));
        var st = ImageTestDir.Lstat(tool);
        Assert.Equal(0x9ED, ImageTestDir.Mode(tool)); // set-uid survived the chown
        Assert.Equal(1000u, (uint)st.st_uid);
        Assert.Equal(1000u, (uint)st.st_gid);
        Assert.Equal(old.ToUnixTimeSeconds(), (long)st.st_mtim.tv_sec);

        string bin = Path.Combine(_layer, "usr/bin");
        Assert.Equal(0x1E8, ImageTestDir.Mode(bin));
        Assert.Equal(12u, (uint)ImageTestDir.Lstat(bin).st_uid);
        // Directory times are set after their children are created, so they stick.
        Assert.Equal(old.ToUnixTimeSeconds(), (long)ImageTestDir.Lstat(bin).st_mtim.tv_sec);

        string alias = Path.Combine(_layer, "usr/bin/alias");
        Assert.Equal((ushort)S_IFLNK, ImageTestDir.FileType(alias));
        Assert.Equal("tool", new FileInfo(alias).LinkTarget);
        Assert.Equal(7u, (uint)ImageTestDir.Lstat(alias).st_uid);

        Assert.Equal((ulong)st.st_ino, (ulong)ImageTestDir.Lstat(Path.Combine(_layer, "usr/bin/same")).st_ino);

        var dev = ImageTestDir.Lstat(Path.Combine(_layer, "dev-null"));
        Assert.Equal((ushort)S_IFCHR, (ushort)(dev.st_mode & S_IFMT));
        Assert.Equal(LayerUnpacker.MakeDev(1, 3), (ulong)dev.st_rdev);
        Assert.Equal(0x1B6, ImageTestDir.Mode(Path.Combine(_layer, "dev-null"))); // 0666 despite the umask
        Assert.Equal((ushort)S_IFIFO, ImageTestDir.FileType(Path.Combine(_layer, "pipe")));
    }

    [Fact]
    public void Unpack_MakesMissingParents_AndLaterEntriesReplaceEarlier()
    {
        Unpack(new LayerTestTar()
            .File("a/b/c.txt", "one")
            .File("a/b/c.txt", "two")
            .Symlink("x", "a")
            .File("x", "now a file")
            .File("d", "was a file")
            .Dir("d/")
            .File("d/inner", "in"));

        Assert.Equal("two", File.ReadAllText(Path.Combine(_layer, "a/b/c.txt")));
        Assert.Equal(0x1ED, ImageTestDir.Mode(Path.Combine(_layer, "a/b")));
        Assert.Equal((ushort)S_IFREG, ImageTestDir.FileType(Path.Combine(_layer, "x")));
        Assert.Equal("in", File.ReadAllText(Path.Combine(_layer, "d/inner")));
    }

    [Fact]
    public void Whiteout_BecomesOverlayCharDevice()
    {
        Unpack(new LayerTestTar().Dir("etc/").File("etc/.wh.motd", ""));

        string whiteout = Path.Combine(_layer, "etc/motd");
        var st = ImageTestDir.Lstat(whiteout);
        Assert.Equal((ushort)S_IFCHR, (ushort)(st.st_mode & S_IFMT));
        Assert.Equal(0ul, (ulong)st.st_rdev);
        Assert.False(File.Exists(Path.Combine(_layer, "etc/.wh.motd")));
    }

    [Fact]
    public void OpaqueMarker_SetsTrustedOverlayOpaque()
    {
        Unpack(new LayerTestTar().Dir("var/").Dir("var/cache/").File("var/cache/.wh..wh..opq", "").File("var/cache/new", "n"));

        Assert.Equal("y", ImageTestDir.GetXattr(Path.Combine(_layer, "var/cache"), "trusted.overlay.opaque"));
        Assert.Null(ImageTestDir.GetXattr(Path.Combine(_layer, "var"), "trusted.overlay.opaque"));
        Assert.False(File.Exists(Path.Combine(_layer, "var/cache/.wh..wh..opq")));
        Assert.Equal("n", File.ReadAllText(Path.Combine(_layer, "var/cache/new")));
    }

    [Theory]
    [InlineData("../x", "escapes the layer root")]
    [InlineData("a/../../x", "escapes the layer root")]
    [InlineData("/abs", "absolute path")]
    public void EscapingNames_AreRefused(string name, string reason)
    {
        var e = Assert.Throws<UnsafeLayerEntryException>(() => Unpack(new LayerTestTar().File(name, "pwned")));
        Assert.Equal(name, e.EntryName);
        Assert.Contains(reason, e.Message);
        Assert.Contains(name, e.Message);
        Assert.Empty(Outside());
        Assert.False(File.Exists("/abs"));
    }

    [Fact]
    public void EntryThroughSymlinkToRoot_IsRefused()
    {
        string escape = $"tmp/jailshim-escape-{Guid.NewGuid():N}";
        var e = Assert.Throws<UnsafeLayerEntryException>(() => Unpack(new LayerTestTar()
            .Symlink("l", "/")
            .File($"l/{escape}", "pwned")));
        Assert.Equal($"l/{escape}", e.EntryName);
        Assert.Contains("symlink", e.Message);
        Assert.False(File.Exists("/" + escape));

        // The symlink itself is fine: it is only text until something follows it.
        Assert.Equal("/", new FileInfo(Path.Combine(_layer, "l")).LinkTarget);
    }

    [Fact]
    public void EntryThroughSymlinkEscapingToParent_WritesNothingOutside()
    {
        Assert.Throws<UnsafeLayerEntryException>(() => Unpack(new LayerTestTar()
            .Symlink("up", "..")
            .Dir("up/planted/")));
        Assert.Throws<UnsafeLayerEntryException>(() => Unpack(new LayerTestTar()
            .Symlink("abs", _dir.Path)
            .File("abs/etc/x", "pwned")));
        Assert.Empty(Outside());
    }

    [Fact]
    public void EntryUnderSymlinkedDirInsideLayer_IsRefusedToo()
    {
        var e = Assert.Throws<UnsafeLayerEntryException>(() => Unpack(new LayerTestTar()
            .Dir("real/")
            .Symlink("link", "real")
            .File("link/x", "through a link")));
        Assert.Contains("'link' is a symlink", e.Message);
        Assert.False(File.Exists(Path.Combine(_layer, "real/x")));
    }

    [Fact]
    public void HardlinkOutsideLayer_IsRefused()
    {
        var e = Assert.Throws<UnsafeLayerEntryException>(() => Unpack(new LayerTestTar()
            .Dir("etc/")
            .Hardlink("etc/passwd", "../../etc/passwd")));
        Assert.Equal("etc/passwd", e.EntryName);
        Assert.Contains("outside the layer", e.Message);
        Assert.False(File.Exists(Path.Combine(_layer, "etc/passwd")));
        Assert.Empty(Outside());
    }

    [Fact]
    public void HardlinkThroughSymlink_IsRefused()
    {
        // A hardlink names its target by path; resolving that through "l -> /" would link a host file into the layer.
        Assert.Throws<UnsafeLayerEntryException>(() => Unpack(new LayerTestTar()
            .Symlink("l", "/")
            .Hardlink("passwd", "l/etc/passwd")));
        Assert.False(File.Exists(Path.Combine(_layer, "passwd")));
    }

    [Fact]
    public void HardlinkToMissingTarget_IsRefused()
    {
        var e = Assert.Throws<UnsafeLayerEntryException>(() => Unpack(new LayerTestTar().Hardlink("b", "a")));
        Assert.Contains("not in the layer", e.Message);
    }

    [Fact]
    public void FileOverExistingSymlink_ReplacesTheLink_NotItsTarget()
    {
        string victim = _dir.Sub("victim");
        File.WriteAllText(victim, "original");
        Unpack(new LayerTestTar().Symlink("f", victim).File("f", "replaced"));

        Assert.Equal("original", File.ReadAllText(victim));
        Assert.Equal((ushort)S_IFREG, ImageTestDir.FileType(Path.Combine(_layer, "f")));
        Assert.Equal("replaced", File.ReadAllText(Path.Combine(_layer, "f")));
    }

    [Fact]
    public void WhiteoutUnderSymlink_IsRefused()
    {
        Assert.Throws<UnsafeLayerEntryException>(() => Unpack(new LayerTestTar()
            .Symlink("l", _dir.Path)
            .File("l/.wh.victim", "")));
        Assert.Empty(Outside());
    }
}
