using System.Diagnostics;
using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using JailShim.Cri.V1;

namespace JailShim.Bench;

/// <summary>
/// Image pull throughput: a 50 MiB image of 5 layers (10 MiB of random, incompressible bytes each,
/// gzipped) pushed to a local docker-registry (Debian's, on 127.0.0.1 and a free port), then pulled
/// with PullImage (download + verify + unpack) and, in the same run, fetched by
/// `skopeo copy docker://... dir:...` (download + verify only). Each round uses fresh random layers,
/// so nothing is ever already stored. Then the cost of CreateContainer from the pulled image
/// (5 lower dirs) against the one-layer base image. Starts and stops its own registry (by pid).
/// </summary>
public sealed class PullBench(Daemon daemon, string dir, CancellationToken cancel, Action<string> note)
{
    public const int Layers = 5;
    public const int LayerMiB = 10;
    private const string RegistryBinary = "/usr/bin/docker-registry";
    private const string Skopeo = "/usr/bin/skopeo";

    /// <summary>The packages this part needs; the bench installs them when it may.</summary>
    public static readonly string[] Packages = ["docker-registry", "skopeo"];

    public static bool ToolsPresent => File.Exists(RegistryBinary) && File.Exists(Skopeo);

    /// <summary>Null when docker-registry and skopeo are there (installed now if allowed); else why this part is skipped.</summary>
    public static async Task<string?> EnsureToolsAsync(bool install, CancellationToken cancel)
    {
        if (ToolsPresent) return null;
        string? aptGet = OciRuntime.Find("apt-get");
        if (!install) return "docker-registry or skopeo is not installed (--no-install given)";
        if (Native.GetEuid() != 0 || aptGet is null) return "docker-registry or skopeo is not installed and apt-get cannot run here";
        Console.WriteLine($"apt: trying `apt-get install -y {string.Join(' ', Packages)}` for the pull bench");
        var env = new Dictionary<string, string> { ["DEBIAN_FRONTEND"] = "noninteractive" };
        await Tool.RunAsync(aptGet, ["update", "-q"], check: false, env: env, cancel: cancel);
        ToolResult result = await Tool.RunAsync(aptGet, ["install", "-y", "-q", "--no-install-recommends", .. Packages], check: false, env: env, cancel: cancel);
        return ToolsPresent ? null : $"`apt-get install {string.Join(' ', Packages)}` failed (status {result.ExitCode})";
    }

    private readonly Samples _pull = new("PullImage 50 MiB / 5 layers");
    private readonly Samples _skopeo = new("skopeo copy to dir");
    private readonly Samples _createPulled = new("CreateContainer (pulled, 5 layers)");
    private readonly Samples _createBase = new("CreateContainer (base, 1 layer)");

    public async Task<JsonObject> RunAsync(int rounds, int creates)
    {
        string work = Path.Combine(dir, "pull");
        Directory.CreateDirectory(work);
        Process registry = await StartRegistryAsync(work);
        try
        {
            int port = int.Parse(File.ReadAllText(Path.Combine(work, "port")), CultureInfo.InvariantCulture);
            string host = $"127.0.0.1:{port}";
            const double MiB = Layers * LayerMiB;
            string? pulledId = null;
            for (int round = 0; round < rounds; round++)
            {
                string layout = Path.Combine(work, $"layout-{round}");
                WriteLayout(layout);
                string reference = $"{host}/bench/pull{round}:1";
                await Tool.RunAsync(Skopeo, ["--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
                    $"oci:{layout}:1", $"docker://{reference}"], cancel: cancel);

                // Interleaved, alternating who goes first, so neither always meets the colder registry cache.
                for (int turn = 0; turn < 2; turn++)
                {
                    if ((turn == 0) == (round % 2 == 0))
                    {
                        string target = Path.Combine(work, $"skopeo-{round}");
                        var clock = Stopwatch.StartNew();
                        await Tool.RunAsync(Skopeo, ["--insecure-policy", "copy", "--quiet", "--src-tls-verify=false",
                            $"docker://{reference}", $"dir:{target}"], cancel: cancel);
                        _skopeo.Add(clock.Elapsed.TotalMilliseconds);
                        Directory.Delete(target, recursive: true);
                    }
                    else
                    {
                        var clock = Stopwatch.StartNew();
                        pulledId = (await Cri.CallAsync("PullImage", () => daemon.Images.PullImageAsync(
                            new PullImageRequest { Image = new ImageSpec { Image = reference } }, cancellationToken: cancel).ResponseAsync)).ImageRef;
                        _pull.Add(clock.Elapsed.TotalMilliseconds);
                    }
                }
                Directory.Delete(layout, recursive: true);
                Console.WriteLine($"pull round {round + 1}/{rounds}: PullImage {_pull.Values[^1]:F0} ms, skopeo {_skopeo.Values[^1]:F0} ms");
            }

            await CreateCostAsync(pulledId!, creates);

            double pullMiBs = MiB / (_pull.Median / 1000), skopeoMiBs = MiB / (_skopeo.Median / 1000);
            Console.WriteLine($"\n== image pull ({Layers} x {LayerMiB} MiB random layers, gzip; {rounds} rounds; median)");
            Console.WriteLine($"  PullImage (fetch + verify + unpack): {_pull.Median,8:F0} ms  {pullMiBs,7:F1} MiB/s");
            Console.WriteLine($"  skopeo copy to dir (fetch + verify): {_skopeo.Median,8:F0} ms  {skopeoMiBs,7:F1} MiB/s");
            Console.WriteLine($"  ratio PullImage / skopeo:            {_pull.Median / _skopeo.Median,8:F2}");
            Console.WriteLine($"  CreateContainer, pulled image (5 layers): {_createPulled.Median:F2} ms median, base image (1 layer): {_createBase.Median:F2} ms");
            return new JsonObject
            {
                ["image_mib"] = MiB,
                ["layers"] = Layers,
                ["pull"] = _pull.ToJson(),
                ["skopeo_copy_dir"] = _skopeo.ToJson(),
                ["pull_mib_per_s"] = Samples.Round(pullMiBs),
                ["skopeo_mib_per_s"] = Samples.Round(skopeoMiBs),
                ["pull_over_skopeo"] = Samples.Round(_pull.Median / _skopeo.Median),
                ["create_container_pulled"] = _createPulled.ToJson(),
                ["create_container_base"] = _createBase.ToJson(),
            };
        }
        finally
        {
            if (!registry.HasExited)
            {
                Native.Kill(registry.Id, Native.SIGTERM);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try { await registry.WaitForExitAsync(timeout.Token); }
                catch (OperationCanceledException) { Native.Kill(registry.Id, Native.SIGKILL); await registry.WaitForExitAsync(); }
            }
            registry.Dispose();
        }
    }

    /// <summary>CreateContainer (then RemoveContainer, untimed) in one pod, alternating the pulled and the base image.</summary>
    private async Task CreateCostAsync(string pulledId, int creates)
    {
        PodSandboxConfig pod = Cri.PodConfig(daemon, "pull-create");
        string podId = (await Cri.CallAsync("RunPodSandbox", () =>
            daemon.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = pod }, cancellationToken: cancel).ResponseAsync)).PodSandboxId;
        try
        {
            for (int i = 0; i < creates * 2; i++)
            {
                bool pulled = i % 2 == 0;
                ContainerConfig config = Cri.ContainerConfig($"c{i}", "/bin/true");
                if (pulled) config.Image = new ImageSpec { Image = pulledId };
                var clock = Stopwatch.StartNew();
                string id = (await Cri.CallAsync("CreateContainer", () => daemon.Runtime.CreateContainerAsync(new CreateContainerRequest
                {
                    PodSandboxId = podId, Config = config, SandboxConfig = pod,
                }, cancellationToken: cancel).ResponseAsync)).ContainerId;
                (pulled ? _createPulled : _createBase).Add(clock.Elapsed.TotalMilliseconds);
                await Cri.CallAsync("RemoveContainer", () =>
                    daemon.Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = id }, cancellationToken: cancel).ResponseAsync);
            }
        }
        finally
        {
            await daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
        }
    }

    /// <summary>An OCI layout with one image of <see cref="Layers"/> fresh random layers.</summary>
    private static void WriteLayout(string layout)
    {
        string blobs = Path.Combine(layout, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        File.WriteAllText(Path.Combine(layout, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        var layers = new JsonArray();
        var diffIds = new JsonArray();
        for (int i = 0; i < Layers; i++)
        {
            using var tar = new MemoryStream();
            using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, $"layer{i}.bin")
                {
                    Mode = (UnixFileMode)0x1A4,
                    DataStream = new MemoryStream(RandomNumberGenerator.GetBytes(LayerMiB << 20)),
                });
            using var gz = new MemoryStream();
            using (var gzip = new GZipStream(gz, CompressionLevel.Fastest)) gzip.Write(tar.ToArray());
            diffIds.Add("sha256:" + Convert.ToHexStringLower(SHA256.HashData(tar.ToArray())));
            var (digest, size) = Blob(blobs, gz.ToArray());
            layers.Add(new JsonObject { ["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip", ["digest"] = digest, ["size"] = size });
        }
        var config = Blob(blobs, Encoding.UTF8.GetBytes(new JsonObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["config"] = new JsonObject { ["Cmd"] = new JsonArray("/bin/true") },
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = diffIds },
        }.ToJsonString()));
        var manifest = Blob(blobs, Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = new JsonObject { ["mediaType"] = "application/vnd.oci.image.config.v1+json", ["digest"] = config.Digest, ["size"] = config.Size },
            ["layers"] = layers,
        }.ToJsonString()));
        File.WriteAllText(Path.Combine(layout, "index.json"), new JsonObject
        {
            ["schemaVersion"] = 2,
            ["manifests"] = new JsonArray(new JsonObject
            {
                ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
                ["digest"] = manifest.Digest,
                ["size"] = manifest.Size,
                ["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = "1" },
            }),
        }.ToJsonString());
    }

    private static (string Digest, long Size) Blob(string blobs, byte[] content)
    {
        string hex = Convert.ToHexStringLower(SHA256.HashData(content));
        File.WriteAllBytes(Path.Combine(blobs, hex), content);
        return ("sha256:" + hex, content.Length);
    }

    /// <summary>docker-registry on 127.0.0.1 and a free port, storage under <paramref name="work"/>; the port is left in work/port.</summary>
    private async Task<Process> StartRegistryAsync(string work)
    {
        for (int attempt = 0; ; attempt++)
        {
            int port;
            using (var probe = new TcpListener(IPAddress.Loopback, 0))
            {
                probe.Start();
                port = ((IPEndPoint)probe.LocalEndpoint).Port;
            }
            string config = Path.Combine(work, "registry.yml");
            await File.WriteAllTextAsync(config, $"""
                version: 0.1
                log:
                  level: error
                  accesslog:
                    disabled: true
                storage:
                  filesystem:
                    rootdirectory: {Path.Combine(work, "storage")}
                http:
                  addr: 127.0.0.1:{port}
                  secret: jailshim-bench-only

                """, cancel);
            var process = Process.Start(new ProcessStartInfo(RegistryBinary)
            {
                ArgumentList = { "serve", config },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(20) && !process.HasExited)
            {
                try
                {
                    using HttpResponseMessage ok = await http.GetAsync($"http://127.0.0.1:{port}/v2/", cancel);
                    if (ok.IsSuccessStatusCode)
                    {
                        await File.WriteAllTextAsync(Path.Combine(work, "port"), port.ToString(CultureInfo.InvariantCulture), cancel);
                        return process;
                    }
                }
                catch (HttpRequestException) { }
                catch (TaskCanceledException) when (!cancel.IsCancellationRequested) { }
                await Task.Delay(50, cancel);
            }
            if (!process.HasExited) { Native.Kill(process.Id, Native.SIGKILL); await process.WaitForExitAsync(); }
            process.Dispose();
            if (attempt >= 2) throw new BenchException($"docker-registry did not start on 127.0.0.1:{port}");
            note($"docker-registry did not come up on port {port}; trying another");
        }
    }
}
