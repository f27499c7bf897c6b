using System.Formats.Tar;
using System.Security.Cryptography;

namespace JailShim.Runtime.Tests.Images;

/// <summary>Builds layer tars in memory for tests, including the hostile ones a real tar tool would refuse to make.</summary>
internal sealed class LayerTestTar
{
    public static readonly DateTimeOffset DefaultTime = new(2021, 3, 4, 5, 6, 7, TimeSpan.Zero);

    private readonly MemoryStream _buffer = new();
    private readonly TarWriter _writer;

    public LayerTestTar() => _writer = new TarWriter(_buffer, TarEntryFormat.Pax, leaveOpen: true);

    public LayerTestTar Dir(string name, int mode = 0x1ED, int uid = 0, int gid = 0, DateTimeOffset? mtime = null) =>
        Add(new PaxTarEntry(TarEntryType.Directory, name), mode, uid, gid, mtime);

    public LayerTestTar File(string name, string content, int mode = 0x1A4, int uid = 0, int gid = 0, DateTimeOffset? mtime = null)
    {
        var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content)) };
        return Add(entry, mode, uid, gid, mtime);
    }

    public LayerTestTar Symlink(string name, string target, int uid = 0, int gid = 0) =>
        Add(new PaxTarEntry(TarEntryType.SymbolicLink, name) { LinkName = target }, 0x1FF, uid, gid, null);

    public LayerTestTar Hardlink(string name, string target) =>
        Add(new PaxTarEntry(TarEntryType.HardLink, name) { LinkName = target }, 0x1A4, 0, 0, null);

    public LayerTestTar CharDevice(string name, int major, int minor, int mode = 0x1B6) =>
        Add(new PaxTarEntry(TarEntryType.CharacterDevice, name) { DeviceMajor = major, DeviceMinor = minor }, mode, 0, 0, null);

    public LayerTestTar Fifo(string name, int mode = 0x1A4) =>
        Add(new PaxTarEntry(TarEntryType.Fifo, name), mode, 0, 0, null);

    public byte[] ToArray()
    {
        _writer.Dispose(); // writes the end-of-archive blocks
        return _buffer.ToArray();
    }

    public static string DiffId(byte[] tar) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(tar));

    private LayerTestTar Add(PaxTarEntry entry, int mode, int uid, int gid, DateTimeOffset? mtime)
    {
        entry.Mode = (UnixFileMode)mode;
        entry.Uid = uid;
        entry.Gid = gid;
        entry.ModificationTime = mtime ?? DefaultTime;
        _writer.WriteEntry(entry);
        return this;
    }
}
