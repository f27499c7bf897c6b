using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace JailShim.Runtime.Images;

/// <summary>
/// Assembles the built-in base image from the host's own programs and the
/// libraries ldd says they need, so a machine with no registry can still run
/// containers. Files keep their host paths; the host's top-level symlinks
/// (/bin -> usr/bin on merged-/usr systems) are reproduced exactly.
/// </summary>
public sealed class BaseImageBuilder(ILogger? logger = null, string? searchPath = null)
{
    /// <summary>The programs taken when the host has them.</summary>
    public static readonly IReadOnlyList<string> Programs =
    [
        "sh", "bash", "ls", "cat", "echo", "sleep", "env", "id", "hostname", "ps", "head", "tail", "yes", "tr",
        "true", "false", "grep", "sed", "wc", "mkdir", "rm", "touch", "date", "printf", "test", "uname", "dd",
        "cp", "mv", "pwd", "kill", "sort", "uniq", "cut", "stat", "find", "readlink", "ln", "chmod", "seq",
        "timeout", "nproc", "whoami", "df",
    ];

    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    // The top-level names that are symlinks on merged-/usr hosts; copied as the host has them.
    private static readonly string[] TopLevelLinks = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

    // One fixed time for every entry, so the same host gives the same layer digest.
    private static readonly DateTimeOffset FixedTime = DateTimeOffset.UnixEpoch;

    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private readonly string _searchPath = searchPath ?? Environment.GetEnvironmentVariable("PATH") ?? DefaultPath;

    /// <summary>Builds the layer tar, imports it into <paramref name="store"/> and tags it <see cref="BaseImage.Reference"/>.</summary>
    public async Task<StoredImage> BuildAsync(ImageStore store, CancellationToken ct = default)
    {
        // The tar lives in the store's tmp/, so a crash mid-build leaves nothing the next start does not wipe.
        string tarPath = Path.Combine(store.TempDir, $"base-layer.{Guid.NewGuid():N}.tar");
        try
        {
            await WriteLayerAsync(tarPath, ct).ConfigureAwait(false);
            byte[] config = Encoding.UTF8.GetBytes(ConfigJson().ToJsonString());
            StoredImage image = await store.ImportAsync(config, [() => File.OpenRead(tarPath)], [BaseImage.Reference], ct)
                .ConfigureAwait(false);
            _logger.LogInformation("built base image {Reference} ({Id}) from the host's programs", BaseImage.Reference, image.Id);
            return image;
        }
        finally
        {
            File.Delete(tarPath);
        }
    }

    /// <summary>Writes the base layer as a reproducible tar at <paramref name="tarPath"/>.</summary>
    public async Task WriteLayerAsync(string tarPath, CancellationToken ct = default)
    {
        HostFileTree tree = await CollectAsync(ct).ConfigureAwait(false);
        await using var file = new FileStream(tarPath, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        tree.WriteTar(file, FixedTime);
        file.Flush(flushToDisk: true);
    }

    private async Task<HostFileTree> CollectAsync(CancellationToken ct)
    {
        var tree = new HostFileTree();
        foreach (string dir in new[] { "proc", "sys", "dev", "etc", "var", "run" })
            tree.AddDirectory(dir, 0x1ED);      // 0755
        tree.AddDirectory("tmp", 0x3FF);        // 1777: anyone may write, only owners delete
        tree.AddDirectory("root", 0x1C0);       // 0700
        tree.AddContent("etc/passwd", Encoding.ASCII.GetBytes(
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"), 0x1A4);
        tree.AddContent("etc/group", Encoding.ASCII.GetBytes("root:x:0:\nnogroup:x:65534:\n"), 0x1A4);

        foreach (string top in TopLevelLinks)
            if (new FileInfo("/" + top).LinkTarget is not null)
                tree.AddHostPath("/" + top);

        var done = new HashSet<string>(StringComparer.Ordinal);
        foreach (string name in Programs)
        {
            string? path = Which(name);
            if (path is null)
            {
                if (name == "sh") throw new FileNotFoundException("the host has no sh; the base image would be useless without one");
                _logger.LogDebug("base image: host has no {Program}, skipped", name);
                continue;
            }
            await AddProgramAsync(tree, path, done, ct).ConfigureAwait(false);
        }
        // Scripts say "#!/bin/sh": keep that name working whatever PATH found sh under.
        if (File.Exists("/bin/sh")) await AddProgramAsync(tree, "/bin/sh", done, ct).ConfigureAwait(false);
        return tree;
    }

    private async Task AddProgramAsync(HostFileTree tree, string path, HashSet<string> done, CancellationToken ct)
    {
        if (!done.Add(path)) return;
        if (!tree.AddHostPath(path)) throw new FileNotFoundException($"cannot copy {path} into the base image", path);
        foreach (string library in await Ldd.LibrariesAsync(path, ct).ConfigureAwait(false))
        {
            if (!tree.AddHostPath(library))
                _logger.LogWarning("base image: {Program} needs {Library}, which cannot be copied", path, library);
        }
        if (Interpreter(path) is { } interpreter)
            await AddProgramAsync(tree, interpreter, done, ct).ConfigureAwait(false);
    }

    /// <summary>The program a "#!" script runs under, which must come along too.</summary>
    private static string? Interpreter(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> head = stackalloc byte[256];
        int n = file.Read(head);
        if (n < 3 || head[0] != '#' || head[1] != '!') return null;
        string line = Encoding.UTF8.GetString(head[2..n]).Split('\n')[0].Trim();
        string interpreter = line.Split(' ', 2)[0];
        return interpreter.StartsWith('/') && File.Exists(interpreter) ? interpreter : null;
    }

    /// <summary>The first executable file of that name on the search path, as the host spells the path.</summary>
    private string? Which(string name)
    {
        foreach (string dir in _searchPath.Split(':'))
        {
            if (!dir.StartsWith('/')) continue; // relative PATH entries mean nothing to a daemon
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate) && IsExecutable(candidate)) return candidate;
        }
        return null;
    }

    private static unsafe bool IsExecutable(string path)
    {
        fixed (byte* p = NoFollowWalk.Z(path))
            return Tmds.Linux.LibC.access(p, Tmds.Linux.LibC.X_OK) == 0;
    }

    private static JsonObject ConfigJson() => new()
    {
        ["architecture"] = RuntimeInformation.OSArchitecture switch
        {
            Architecture.X64 => "amd64",
            Architecture.Arm64 => "arm64",
            Architecture.Arm => "arm",
            Architecture.X86 => "386",
            var other => other.ToString().ToLowerInvariant(),
        },
        ["os"] = "linux",
        ["config"] = new JsonObject
        {
            ["Env"] = new JsonArray("PATH=" + DefaultPath),
            ["Cmd"] = new JsonArray("/bin/sh"),
        },
    };
}
