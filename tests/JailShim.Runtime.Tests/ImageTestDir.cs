using System.Runtime.InteropServices;
using System.Text;

namespace JailShim.Runtime.Tests.Images;

/// <summary>A scratch directory for one test, deleted afterwards; plus the few host probes the image tests share.</summary>
internal sealed partial class ImageTestDir : IDisposable
{
    public ImageTestDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"jailshim-img-{Guid.NewGuid():N}");

    public string Sub(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (DirectoryNotFoundException) { }
    }

    /// <summary>lstat: the test's view of what the unpacker made, never following a link.</summary>
    public static unsafe Tmds.Linux.stat Lstat(string path)
    {
        Tmds.Linux.stat st;
        fixed (byte* p = Encoding.UTF8.GetBytes(path + "\0"))
        {
            if (Tmds.Linux.LibC.lstat(p, &st) != 0) throw new IOException($"lstat {path}: errno {Marshal.GetLastPInvokeError()}");
        }
        return st;
    }

    public static int FileType(string path) => (ushort)(Lstat(path).st_mode & Tmds.Linux.LibC.S_IFMT);

    public static int Mode(string path) => (ushort)Lstat(path).st_mode & 0xFFF;

    /// <summary>The xattr value, or null when it is not set.</summary>
    public static string? GetXattr(string path, string name)
    {
        var buffer = new byte[256];
        nint n = LGetXattr(path, name, buffer, (nuint)buffer.Length);
        return n < 0 ? null : Encoding.UTF8.GetString(buffer, 0, (int)n);
    }

    [LibraryImport("libc", EntryPoint = "lgetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint LGetXattr(string path, string name, byte[] value, nuint size);

    /// <summary>Runs a host program and returns its exit code and combined output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string program, params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in args) start.ArgumentList.Add(arg);
        using var process = System.Diagnostics.Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
