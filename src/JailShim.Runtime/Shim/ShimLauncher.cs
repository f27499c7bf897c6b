using System.Diagnostics;
using JailShim.Runtime.Telemetry;
using Microsoft.Extensions.Logging;

namespace JailShim.Runtime.Shim;

/// <summary>Runs jailshim-shim once: hands it a spec, reads its report, turns its phases into spans.</summary>
public sealed class ShimLauncher(string shimPath, ILogger logger)
{
    private int _oomScoreAdjRefused;

    public string ShimPath { get; } = shimPath;

    /// <summary>Runs "jailshim-shim MODE" with the spec; returns what it made or throws <see cref="ShimFailedException"/>.</summary>
    public async Task<ShimResult> RunAsync(string mode, ShimSpec spec, string? podId, string? containerId,
        CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(ShimPath, [mode])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {ShimPath}");
        Task<string> stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);

        // The shim must always see the whole spec and finish: a half-written spec would leave it waiting,
        // so the request's cancellation is not passed to this short exchange.
        await process.StandardInput.WriteAsync(spec.Encode());
        process.StandardInput.Close();

        var phases = new List<ShimPhase>();
        ShimResult? result = null;
        ShimFailedException? failure = null;
        while (await process.StandardOutput.ReadLineAsync(CancellationToken.None) is { } line)
        {
            string[] fields = line.Split(' ');
            switch (fields[0])
            {
                case "phase" when fields.Length >= 5:
                    phases.Add(ShimPhase.Parse(fields));
                    break;
                case "created" when fields.Length >= 3:
                    result = new ShimResult(int.Parse(fields[1]), int.Parse(fields[2]), phases);
                    break;
                case "error" when fields.Length >= 3:
                    failure = new ShimFailedException(fields[1], int.Parse(fields[2]), string.Join(' ', fields[3..]));
                    break;
            }
        }
        await process.WaitForExitAsync(CancellationToken.None);
        string diagnostics = await stderr;

        foreach (ShimPhase phase in phases)
        {
            EngineTelemetry.Recorded(phase.Name, phase.Start, phase.End, phase.Errno, phase.Detail, podId, containerId);
            // Lowering oom_score_adj needs CAP_SYS_RESOURCE, which some hosts' root lacks: skipped, said once.
            if (phase is { Name: "oom_score_adj", Errno: not 0 } && Interlocked.Exchange(ref _oomScoreAdjRefused, 1) == 0)
                logger.LogWarning("oom_score_adj was refused ({Error}); containers keep the daemon's value (said once)",
                    Interop.Sys.StrError(phase.Errno));
        }

        if (failure is not null) throw failure;
        if (result is null)
            throw new ShimFailedException("shim", 0,
                $"jailshim-shim exited with status {process.ExitCode} without a report{(diagnostics.Length > 0 ? ": " + diagnostics.Trim() : "")}");
        cancellationToken.ThrowIfCancellationRequested();
        return result;
    }
}
