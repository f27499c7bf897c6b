using System.Diagnostics;
using System.Text.Json.Nodes;
using JailShim.Cri.V1;

namespace JailShim.Conformance;

/// <summary>The daemon binary's <c>image import</c> subcommand, and the base layer tests build importable images on.</summary>
public static class ImageCli
{
    /// <summary>Runs <c>jailshim image import PATH [NAME] --root ROOT</c> against the daemon's root, while it runs.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> ImportAsync(Daemon daemon, string path, string? name = null)
    {
        var start = new ProcessStartInfo(Daemon.BinaryPath) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in new[] { "image", "import", path }) start.ArgumentList.Add(arg);
        if (name is not null) start.ArgumentList.Add(name);
        start.ArgumentList.Add("--root");
        start.ArgumentList.Add(daemon.Root);
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Imports and asserts success; returns the image id the command printed.</summary>
    public static async Task<string> ImportOkAsync(Daemon daemon, string path, string? name = null)
    {
        var (code, stdout, stderr) = await ImportAsync(daemon, path, name);
        Assert.True(code == 0, $"jailshim image import exited {code}:\n{stdout}{stderr}");
        string id = stdout.Split(' ', '\n')[0];
        Assert.StartsWith("sha256:", id);
        return id;
    }

    /// <summary>The base image's one layer as a plain tar layer (its blob in the daemon's store), found through ImageStatus.</summary>
    public static async Task<TestLayer> BaseLayerAsync(Daemon daemon)
    {
        var status = await daemon.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = Cri.BaseImage }, Verbose = true });
        string diffId = JsonNode.Parse(status.Info["info"])!["imageSpec"]!["rootfs"]!["diff_ids"]![0]!.GetValue<string>();
        byte[] tar = await File.ReadAllBytesAsync(Path.Combine(daemon.Root, "images", "blobs", "sha256", diffId[7..]));
        return TestLayer.Tar(tar);
    }

    /// <summary>Where the daemon unpacked a layer.</summary>
    public static string LayerDir(Daemon daemon, string diffId) => Path.Combine(daemon.Root, "images", "layers", "sha256", diffId[7..]);
}
