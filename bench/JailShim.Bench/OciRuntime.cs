using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace JailShim.Bench;

/// <summary>
/// A reference OCI runtime (crun or runc) timed on `RUNTIME --root STATE run --bundle B ID` of /bin/true.
/// STATE is a directory of the bench's own, so every container listed there is one the bench
/// started, and cleanup deletes exactly those.
/// </summary>
public sealed class OciRuntime
{
    private readonly HashSet<string> _maybeLeft = [];
    private int _next;

    private OciRuntime(string name, string path, string dir)
    {
        Name = name;
        Path = path;
        StateRoot = System.IO.Path.Combine(dir, "state");
        Bundle = System.IO.Path.Combine(dir, "bundle");
    }

    public string Name { get; }
    public string Path { get; }
    public string StateRoot { get; }
    public string Bundle { get; }
    public string Version { get; private set; } = "";

    private List<string> Args(params string[] rest) => ["--root", StateRoot, .. rest];

    public static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => System.IO.Path.Combine(d, name))
            .FirstOrDefault(File.Exists);

    /// <summary>
    /// Makes DIR/bundle: rootfs = a copy (cp -a) of the image's layer dirs, config.json from
    /// `RUNTIME spec` with process.args ["/bin/true"], no terminal, a read-only root.
    /// </summary>
    public static async Task<OciRuntime> PrepareAsync(string name, string path, string dir, IReadOnlyList<string> layers,
        CancellationToken cancel)
    {
        var runtime = new OciRuntime(name, path, dir);
        Directory.CreateDirectory(runtime.StateRoot);
        string rootfs = System.IO.Path.Combine(runtime.Bundle, "rootfs");
        Directory.CreateDirectory(rootfs);
        foreach (string layer in layers) // bottom first; the base image has a single layer
            await Tool.RunAsync("cp", ["-a", layer + "/.", rootfs + "/"], cancel: cancel);

        runtime.Version = (await Tool.RunAsync(path, ["--version"], cancel: cancel)).Stdout.Split('\n')[0].Trim();
        await Tool.RunAsync(path, ["spec"], workDir: runtime.Bundle, cancel: cancel);
        string configPath = System.IO.Path.Combine(runtime.Bundle, "config.json");
        JsonNode config = JsonNode.Parse(await File.ReadAllTextAsync(configPath, cancel))
            ?? throw new BenchException($"{name} spec wrote an empty config.json");
        JsonObject process = config["process"]?.AsObject() ?? throw new BenchException($"{name} spec: no process");
        process["args"] = new JsonArray("/bin/true");
        process["terminal"] = false;
        config["root"] = new JsonObject { ["path"] = "rootfs", ["readonly"] = true };
        await File.WriteAllTextAsync(configPath, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), cancel);
        return runtime;
    }

    /// <summary>One timed `run`; the container is gone when it returns (run deletes it after the process exits).</summary>
    public async Task<double> RunOnceAsync(CancellationToken cancel)
    {
        string id = $"jsbench-{Environment.ProcessId}-{Name}-{_next++}";
        lock (_maybeLeft) _maybeLeft.Add(id);
        var start = new ProcessStartInfo(Path, Args("run", "--bundle", Bundle, id))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var clock = Stopwatch.StartNew();
        using Process process = Process.Start(start)!;
        process.StandardInput.Close();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        Task<string> stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        await process.WaitForExitAsync(CancellationToken.None);
        double ms = clock.Elapsed.TotalMilliseconds;
        string err = await stderr;
        await stdout;
        if (process.ExitCode != 0)
        {
            await DeleteAsync(id);
            throw new BenchException($"`{Name} {string.Join(' ', start.ArgumentList)}` exited with status {process.ExitCode}: {err.Trim()}");
        }
        // run deletes the container itself; check outside the timed part, and delete it if it did not.
        if (Directory.Exists(System.IO.Path.Combine(StateRoot, id))) await DeleteAsync(id);
        else lock (_maybeLeft) _maybeLeft.Remove(id);
        cancel.ThrowIfCancellationRequested();
        return ms;
    }

    private async Task DeleteAsync(string id)
    {
        try
        {
            await Tool.RunAsync(Path, Args("delete", "-f", id), check: false);
            if (!Directory.Exists(System.IO.Path.Combine(StateRoot, id))) lock (_maybeLeft) _maybeLeft.Remove(id);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Console.Error.WriteLine($"{Name} delete -f {id}: {e.Message}");
        }
    }

    /// <summary>Deletes every container in our state root (all of them are ours) and any we may have left.</summary>
    public async Task CleanupAsync()
    {
        var ids = new HashSet<string>();
        lock (_maybeLeft) ids.UnionWith(_maybeLeft);
        if (Directory.Exists(StateRoot))
        {
            try
            {
                ToolResult list = await Tool.RunAsync(Path, Args("list", "-q"), check: false);
                ids.UnionWith(list.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            }
            catch (Exception e) { Console.Error.WriteLine($"{Name} list: {e.Message}"); }
        }
        foreach (string id in ids)
        {
            Console.Error.WriteLine($"cleanup: {Name} delete -f {id}");
            await DeleteAsync(id);
        }
    }
}

public sealed record ToolResult(int ExitCode, string Stdout, string Stderr);

/// <summary>Runs a helper command (cp, apt-get, crun spec) and collects its output.</summary>
public static class Tool
{
    public static async Task<ToolResult> RunAsync(string file, IEnumerable<string> args, string? workDir = null,
        bool check = true, IDictionary<string, string>? env = null, CancellationToken cancel = default)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args) start.ArgumentList.Add(arg);
        if (workDir is not null) start.WorkingDirectory = workDir;
        if (env is not null) foreach (var (k, v) in env) start.Environment[k] = v;
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception e) { throw new BenchException($"cannot run {file}: {e.Message}"); }
        using (process)
        {
            process.StandardInput.Close();
            Task<string> stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
            Task<string> stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
            // A helper is never left running: waited for even when the bench is interrupted.
            await process.WaitForExitAsync(CancellationToken.None);
            var result = new ToolResult(process.ExitCode, await stdout, await stderr);
            if (check && result.ExitCode != 0)
                throw new BenchException($"`{file} {string.Join(' ', start.ArgumentList)}` exited with status {result.ExitCode}: {(result.Stderr + result.Stdout).Trim()}");
            cancel.ThrowIfCancellationRequested();
            return result;
        }
    }
}
