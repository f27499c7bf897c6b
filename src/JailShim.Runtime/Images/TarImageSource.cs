using System.Formats.Tar;
using System.IO.Compression;

namespace JailShim.Runtime.Images;

/// <summary>
/// An image packed in a tar archive (<c>docker save</c>, or an OCI layout in a tar). The archive is
/// indexed once and its members are then read in place, so a layer is never copied out of it. A
/// gzip'd archive is decompressed to a temp file first (a gzip stream cannot be read from the middle).
/// </summary>
internal sealed class TarImageSource : ImageSource
{
    private const int MaxLinkHops = 16;

    private readonly string _description;
    private readonly string _tar;
    private readonly string? _tempCopy;
    private readonly Dictionary<string, Member> _members = new(StringComparer.Ordinal);

    /// <summary>A file in the archive: where its bytes are, or the member it links to.</summary>
    private sealed record Member(long Offset, long Length, string? LinkTo);

    private TarImageSource(string description, string tar, string? tempCopy)
    {
        _description = description;
        _tar = tar;
        _tempCopy = tempCopy;
    }

    public override string Description => _description;

    public static TarImageSource OpenArchive(string path, string tempDir)
    {
        string? copy = null;
        try
        {
            if (IsGzip(path))
            {
                copy = Path.Combine(tempDir, $"import.{Guid.NewGuid():N}.tar");
                using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
                using var output = new FileStream(copy, FileMode.CreateNew, FileAccess.Write);
                gz.CopyTo(output, 1 << 16);
            }
            var source = new TarImageSource(path, copy ?? path, copy);
            source.BuildIndex();
            return source;
        }
        catch (Exception e) when (e is not InvalidDataException)
        {
            if (copy is not null) File.Delete(copy);
            throw new InvalidDataException($"{path}: not a readable tar archive: {e.Message}", e);
        }
        catch
        {
            if (copy is not null) File.Delete(copy);
            throw;
        }
    }

    public override bool Exists(string path) => Resolve(path) is not null;

    public override Stream Open(string path)
    {
        Member member = Resolve(path) ?? throw Missing(path);
        return new FileRangeStream(_tar, member.Offset, member.Length);
    }

    public override void Dispose()
    {
        if (_tempCopy is not null) File.Delete(_tempCopy);
    }

    private static bool IsGzip(string path)
    {
        using FileStream file = File.OpenRead(path);
        Span<byte> head = stackalloc byte[2];
        return file.ReadAtLeast(head, 2, throwOnEndOfStream: false) == 2 && head[0] == 0x1f && head[1] == 0x8b;
    }

    private void BuildIndex()
    {
        using FileStream file = File.OpenRead(_tar);
        using var reader = new TarReader(file);
        while (reader.GetNextEntry(copyData: false) is { } entry)
        {
            string name;
            try { name = Clean(entry.Name); }
            catch (InvalidDataException) { continue; } // a name outside the archive can never be asked for
            if (name.Length == 0) continue;
            switch (entry.EntryType)
            {
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                    _members[name] = new Member(entry.Length == 0 ? 0 : entry.DataOffset, entry.Length, null);
                    break;
                case TarEntryType.HardLink:
                    _members[name] = new Member(0, 0, entry.LinkName);
                    break;
                case TarEntryType.SymbolicLink:
                    // Old docker save links a repeated layer to the first copy: "../<id>/layer.tar".
                    string dir = name.Contains('/') ? name[..name.LastIndexOf('/')] : "";
                    string target = entry.LinkName.StartsWith('/') || dir.Length == 0 ? entry.LinkName : dir + "/" + entry.LinkName;
                    _members[name] = new Member(0, 0, target);
                    break;
            }
        }
    }

    /// <summary>The member with the bytes, following links inside the archive; null when there is none.</summary>
    private Member? Resolve(string path)
    {
        string name = Clean(path);
        for (int hop = 0; hop < MaxLinkHops; hop++)
        {
            if (!_members.TryGetValue(name, out Member? member)) return null;
            if (member.LinkTo is null) return member;
            name = Clean(member.LinkTo.TrimStart('/'));
        }
        throw new InvalidDataException($"{_description}: {path}: more than {MaxLinkHops} links in a row");
    }
}
