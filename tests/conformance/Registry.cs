using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace JailShim.Conformance;

/// <summary>
/// A real OCI registry for the tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1
/// with a free port and a temp storage dir, optionally behind basic auth (a bcrypt htpasswd
/// file made with apache2-utils' htpasswd). Images are pushed with skopeo. Its access log is
/// kept, so tests can count what the daemon fetched. Dispose stops it (by its pid) and deletes
/// the temp dir.
/// </summary>
public sealed class Registry : IAsyncDisposable
{
    public const string Binary = "/usr/bin/docker-registry";
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private Registry(string dir, int port, Process process, (string User, string Password)? credentials)
    {
        Dir = dir;
        Port = port;
        _process = process;
        Credentials = credentials;
    }

    public string Dir { get; }
    public int Port { get; }

    /// <summary>host:port, the way image names spell it.</summary>
    public string Host => $"127.0.0.1:{Port}";

    /// <summary>Where the registry keeps its blobs: docker/registry/v2/blobs/sha256/ab/abcd.../data.</summary>
    public string StorageDir => Path.Combine(Dir, "storage");

    public (string User, string Password)? Credentials { get; }

    public string Log { get { lock (_log) return _log.ToString(); } }

    public static bool Available => File.Exists(Binary) && File.Exists("/usr/bin/skopeo") && File.Exists("/usr/bin/htpasswd");

    public static async Task<Registry> StartAsync((string User, string Password)? credentials = null)
    {
        if (!Available)
            throw new InvalidOperationException("docker-registry, skopeo and htpasswd are needed: apt-get install docker-registry skopeo apache2-utils");
        string dir = Directory.CreateTempSubdirectory("jst-registry-").FullName;
        for (int attempt = 0; ; attempt++)
        {
            int port = FreePort();
            var config = new StringBuilder($"""
                version: 0.1
                log:
                  level: info
                  formatter: text
                storage:
                  filesystem:
                    rootdirectory: {Path.Combine(dir, "storage")}
                  delete:
                    enabled: true
                  maintenance:
                    uploadpurging:
                      enabled: false
                http:
                  addr: 127.0.0.1:{port}
                  secret: jailshim-tests-only

                """);
            if (credentials is { } c)
            {
                string htpasswd = await RunAsync("/usr/bin/htpasswd", "-Bbn", c.User, c.Password);
                await File.WriteAllTextAsync(Path.Combine(dir, "htpasswd"), htpasswd.Trim() + "\n");
                config.Append($"""
                    auth:
                      htpasswd:
                        realm: jailshim-tests
                        path: {Path.Combine(dir, "htpasswd")}

                    """);
            }
            string configPath = Path.Combine(dir, "config.yml");
            await File.WriteAllTextAsync(configPath, config.ToString());

            var process = Process.Start(new ProcessStartInfo(Binary)
            {
                ArgumentList = { "serve", configPath },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            var registry = new Registry(dir, port, process, credentials);
            process.OutputDataReceived += (_, e) => registry.Append(e.Data);
            process.ErrorDataReceived += (_, e) => registry.Append(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (await registry.WaitReadyAsync()) return registry;
            string log = registry.Log;
            await registry.StopAsync();
            if (attempt >= 2) throw new InvalidOperationException($"docker-registry did not start on {registry.Host}:\n{log}");
        }
    }

    /// <summary>Pushes the OCI layout's image (or index, with <paramref name="all"/>) tagged <paramref name="layoutTag"/>; returns the pushed manifest digest.</summary>
    public async Task<string> PushAsync(string layoutDir, string layoutTag, string repository, string tag, bool all = false,
        string? format = null, string? compression = null)
    {
        string digestFile = Path.Combine(layoutDir, $"pushed-{Guid.NewGuid():N}.digest");
        var args = new List<string> { "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false", "--digestfile", digestFile };
        if (all) args.Add("--all");
        if (format is not null) args.AddRange(["--format", format]);
        if (compression is not null) args.AddRange(["--dest-compress-format", compression]);
        if (Credentials is { } c) args.AddRange(["--dest-creds", $"{c.User}:{c.Password}"]);
        args.Add($"oci:{layoutDir}:{layoutTag}");
        args.Add($"docker://{Host}/{repository}:{tag}");
        await RunAsync("/usr/bin/skopeo", [.. args]);
        string digest = (await File.ReadAllTextAsync(digestFile)).Trim();
        File.Delete(digestFile);
        return digest;
    }

    /// <summary>The file a blob is stored in.</summary>
    public string BlobPath(string digest) =>
        Path.Combine(StorageDir, "docker", "registry", "v2", "blobs", "sha256", digest[7..9], digest[7..], "data");

    /// <summary>How many GETs of this path (e.g. "/v2/x/blobs/sha256:...") the access log shows.</summary>
    public int Gets(string path)
    {
        string needle = $"\"GET {path} ";
        return Log.Split('\n').Count(line => line.Contains(needle, StringComparison.Ordinal));
    }

    /// <summary>An answer from the registry's own API (for looking at what a push stored).</summary>
    public async Task<string> GetManifestJsonAsync(string repository, string reference)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{Host}/v2/{repository}/manifests/{reference}");
        request.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
        request.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json");
        if (Credentials is { } c)
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{c.User}:{c.Password}")));
        using HttpResponseMessage response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try { Directory.Delete(Dir, recursive: true); }
        catch (DirectoryNotFoundException) { }
    }

    private async Task StopAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                Syscall.Kill(_process.Id, 15);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try { await _process.WaitForExitAsync(timeout.Token); }
                catch (OperationCanceledException) { _process.Kill(); await _process.WaitForExitAsync(); }
            }
        }
        finally
        {
            _process.Dispose();
        }
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_log) _log.AppendLine(line);
    }

    private async Task<bool> WaitReadyAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            if (_process.HasExited) return false;
            try
            {
                using HttpResponseMessage response = await http.GetAsync($"http://{Host}/v2/");
                if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized) return true;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(50);
        }
        return false;
    }

    /// <summary>A port nothing listens on right now (bound and released; the registry takes it next).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static async Task<string> RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {process.ExitCode}:\n{await stderr}\n{await stdout}");
        return await stdout;
    }
}
