using System.Diagnostics;

namespace JailShim.Runtime.Images;

/// <summary>Asks the host's ldd which shared libraries (and which dynamic loader) a program needs.</summary>
internal static class Ldd
{
    /// <summary>Absolute paths of every library the program loads, transitively. Empty for static binaries and scripts.</summary>
    public static async Task<IReadOnlyList<string>> LibrariesAsync(string program, CancellationToken ct)
    {
        var start = new ProcessStartInfo("ldd")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(program);
        using Process ldd = Process.Start(start) ?? throw new InvalidOperationException("could not start ldd");
        Task<string> stdout = ldd.StandardOutput.ReadToEndAsync(ct);
        Task<string> stderr = ldd.StandardError.ReadToEndAsync(ct);
        await ldd.WaitForExitAsync(ct).ConfigureAwait(false);
        string output = await stdout.ConfigureAwait(false);
        await stderr.ConfigureAwait(false);
        // ldd exits 1 with "not a dynamic executable" for static programs: they need nothing.
        return ldd.ExitCode == 0 ? Parse(output) : [];
    }

    /// <summary>
    /// Reads lines like "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and
    /// "/lib64/ld-linux-x86-64.so.2 (0x...)"; skips the vDSO and "not found".
    /// </summary>
    internal static IReadOnlyList<string> Parse(string output)
    {
        var paths = new List<string>();
        foreach (string raw in output.Split('\n'))
        {
            string line = raw.Trim();
            int arrow = line.IndexOf("=>", StringComparison.Ordinal);
            string candidate = arrow >= 0 ? line[(arrow + 2)..].Trim() : line;
            if (!candidate.StartsWith('/')) continue;
            int paren = candidate.IndexOf(" (", StringComparison.Ordinal);
            string path = paren >= 0 ? candidate[..paren] : candidate;
            if (!paths.Contains(path)) paths.Add(path);
        }
        return paths;
    }
}
