using System.Security.Cryptography;
using JailShim.Runtime.Images;
using static Tmds.Linux.LibC;

namespace JailShim.Runtime.Tests.Images;

/// <summary>
/// The built-in base image, built for real from this host's programs into a
/// temp store, and then run: a chroot into its layer must give a working shell.
/// </summary>
public sealed class BaseImageBuilderTests : IClassFixture<BaseImageBuilderTests.Built>
{
    /// <summary>One build shared by the tests (it copies a few dozen programs and their libraries).</summary>
    public sealed class Built : IAsyncLifetime
    {
        internal ImageTestDir Dir { get; } = new();
        public ImageStore Store { get; private set; } = null!;
        public StoredImage Image { get; private set; } = null!;
        public string Fs => Store.LowerDirs(Image).Single();

        public async Task InitializeAsync()
        {
            Store = new ImageStore(Dir.Sub("images"));
            Image = await BaseImage.EnsureAsync(Store);
        }

        public Task DisposeAsync()
        {
            Dir.Dispose();
            return Task.CompletedTask;
        }
    }

    private readonly Built _built;

    public BaseImageBuilderTests(Built built) => _built = built;

    private string InFs(string path) => Path.Combine(_built.Fs, path.TrimStart('/'));

    [Fact]
    public void Image_IsTaggedAndConfigured()
    {
        StoredImage image = _built.Store.Find("jailshim.local/base:latest")!;
        Assert.Equal(_built.Image.Id, image.Id);
        Assert.Equal(["jailshim.local/base:latest"], image.RepoTags);
        Assert.Equal(["/bin/sh"], image.Config.Cmd!);
        Assert.Null(image.Config.Entrypoint);
        Assert.Equal(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], image.Config.Env);
        Assert.Single(image.LayerDiffIds);
    }

    [Fact]
    public void TopLevelSymlinks_MatchTheHost()
    {
        foreach (string top in new[] { "bin", "sbin", "lib", "lib32", "lib64", "libx32" })
        {
            string? hostTarget = new FileInfo("/" + top).LinkTarget;
            if (hostTarget is null)
            {
                Assert.Null(new FileInfo(InFs(top)).LinkTarget);
                continue;
            }
            Assert.Equal(hostTarget, new FileInfo(InFs(top)).LinkTarget);
        }
    }

    [Fact]
    public async Task BinSh_StaysASymlinkToARealShell()
    {
        // sh sits where the host has it (via /bin -> usr/bin on merged-/usr hosts), and is a link if the host's is.
        string binDir = new DirectoryInfo("/bin").ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? "/bin";
        string hostSh = Path.Combine(binDir, "sh");
        Assert.Equal(ImageTestDir.FileType(hostSh), ImageTestDir.FileType(InFs(hostSh)));
        var (code, output) = await InChroot("readlink -f /bin/sh");
        Assert.True(code == 0, output);
        string shell = output.Trim();
        Assert.Equal((await ImageTestDir.RunAsync("readlink", "-f", "/bin/sh")).Output.Trim(), shell);
        Assert.Equal((ushort)S_IFREG, ImageTestDir.FileType(InFs(shell)));
    }

    [Fact]
    public async Task KeyPrograms_AreAtTheirHostPaths()
    {
        string[] programs = [.. new[] { "sh", "bash", "ls", "cat", "ps", "id", "sleep", "env", "grep", "sed" }.Select(Which)];
        Assert.Equal("", await MissingInChroot(programs));
        Assert.Equal("missing /usr/bin/mount", (await MissingInChroot(["/usr/bin/mount"])).Trim());
    }

    [Fact]
    public async Task EveryLibraryLddNames_IsInTheLayer()
    {
        foreach (string name in new[] { "ps", "ls", "bash", "grep" })
        {
            var (code, output) = await ImageTestDir.RunAsync("ldd", Which(name));
            Assert.Equal(0, code);
            string[] libraries = [.. output.Split('\n')
                .Select(l => l.Contains("=>") ? l[(l.IndexOf("=>") + 2)..].Trim() : l.Trim())
                .Where(l => l.StartsWith('/'))
                .Select(l => l.Split(' ')[0])];
            Assert.Contains(libraries, l => l.Contains("ld-linux")); // the dynamic loader too
            Assert.Equal("", await MissingInChroot(libraries));
        }
    }

    [Fact]
    public void EtcAndEmptyDirs_AreThere()
    {
        Assert.Contains("root:x:0:0:root:/root:/bin/sh", File.ReadAllText(InFs("/etc/passwd")));
        Assert.Contains("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin", File.ReadAllText(InFs("/etc/passwd")));
        Assert.Equal("root:x:0:\nnogroup:x:65534:\n", File.ReadAllText(InFs("/etc/group")));
        foreach (string dir in new[] { "proc", "sys", "dev", "tmp", "root", "etc", "var", "run" })
            Assert.Equal((ushort)S_IFDIR, ImageTestDir.FileType(InFs(dir)));
        Assert.Equal(0x3FF, ImageTestDir.Mode(InFs("tmp")));  // 1777
        Assert.Equal(0x1C0, ImageTestDir.Mode(InFs("root"))); // 0700
    }

    [Fact]
    public async Task Chroot_RunsAShellAndId()
    {
        var (code, output) = await ImageTestDir.RunAsync("chroot", _built.Fs, "/bin/sh", "-c", "ls / && id && echo ok | tr a-z A-Z");
        Assert.True(code == 0, output);
        Assert.Contains("uid=0(root) gid=0(root)", output);
        Assert.Contains("usr", output);
        Assert.Contains("OK", output);
    }

    [Fact]
    public async Task ContainerLikeChroot_RunsPs()
    {
        // procps-ng 4 ps needs /proc even for --version, as any container has it: mount one in a private mount and
        // pid namespace (the mount is on the layer's /proc dir but writes nothing to it, and dies with the namespace).
        var (code, output) = await ImageTestDir.RunAsync("unshare", "--mount", "--pid", "--fork", "--mount-proc=" + Path.Combine(_built.Fs, "proc"),
            "chroot", _built.Fs, "/bin/sh", "-c", "ls / && ps --version && id && ps -e");
        Assert.True(code == 0, output);
        Assert.Contains("procps", output);
        Assert.Contains("uid=0(root) gid=0(root)", output);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_built.Fs, "proc")));
    }

    [Fact]
    public async Task Ensure_ReusesTheStoredImage()
    {
        var started = DateTime.UtcNow;
        StoredImage again = await BaseImage.EnsureAsync(new ImageStore(_built.Store.Root));
        Assert.Equal(_built.Image.Id, again.Id);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(2), "ensure should not rebuild");
    }

    [Fact]
    public async Task LayerTar_IsReproducible()
    {
        using var dir = new ImageTestDir();
        var builder = new BaseImageBuilder();
        await builder.WriteLayerAsync(dir.Sub("a.tar"));
        await builder.WriteLayerAsync(dir.Sub("b.tar"));
        string a = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(dir.Sub("a.tar"))));
        string b = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(dir.Sub("b.tar"))));
        Assert.Equal(a, b);
        Assert.Equal("sha256:" + a, _built.Image.LayerDiffIds[0]);
    }

    [Fact]
    public void LddOutput_IsParsed()
    {
        const string output = """
            	linux-vdso.so.1 (0x00007ffd)
            	libproc2.so.0 => /lib/x86_64-linux-gnu/libproc2.so.0 (0x00007f1d480f4000)
            	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1d47f12000)
            	libgone.so.1 => not found
            	/lib64/ld-linux-x86-64.so.2 (0x00007f1d4817e000)
            	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1d47f12000)
            """;
        Assert.Equal(
            ["/lib/x86_64-linux-gnu/libproc2.so.0", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"],
            Ldd.Parse(output));
    }

    /// <summary>Runs a shell command inside the layer, so paths resolve exactly as they will in a container.</summary>
    private Task<(int ExitCode, string Output)> InChroot(string script, params string[] args) =>
        ImageTestDir.RunAsync("chroot", [_built.Fs, "/bin/sh", "-c", script, "sh", .. args]);

    /// <summary>"missing PATH" lines for each path the layer lacks (following its symlinks); empty when all are there.</summary>
    private async Task<string> MissingInChroot(string[] paths)
    {
        var (code, output) = await InChroot("for p in \"$@\"; do [ -e \"$p\" ] || echo \"missing $p\"; done", paths);
        Assert.True(code == 0, output);
        return output;
    }

    private static string Which(string name) =>
        Environment.GetEnvironmentVariable("PATH")!.Split(':').Where(d => d.StartsWith('/'))
            .Select(d => Path.Combine(d, name)).First(File.Exists);
}
