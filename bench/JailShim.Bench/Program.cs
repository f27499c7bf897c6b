using System.Globalization;
using System.Runtime.InteropServices;
using JailShim.Bench;

// JailShim benchmark: `make bench ARGS="--iterations 30"`. See Bench.cs for what it measures.
const string Usage = """
usage: jailshim-bench [--iterations N] [--warmup N] [--pods N] [--no-reference] [--no-memory] [--no-pull]
                      [--no-install] [--daemon PATH] [--log-level LEVEL] [--output FILE]
  --iterations N   timed iterations (pod cycle, crun run, runc run interleaved); default 30
  --warmup N       untimed pod cycles before timing; default 5
  --pods N         pods (one `sleep 600` container each) for the memory check; default 50
  --no-reference   do not time crun/runc
  --no-memory      skip the memory check
  --no-pull        skip the image pull bench (local docker-registry: PullImage vs skopeo copy, CreateContainer cost)
  --no-install     do not try `apt-get install -y crun runc` (nor docker-registry skopeo) when missing
  --daemon PATH    daemon binary; default the Release build in src/JailShim/bin
  --log-level L    the daemon's --log-level; default Warning (less output to measure)
  --output FILE    JSON results; default bench/results/latest.json
""";

Options options = new();
try
{
    for (int i = 0; i < args.Length; i++)
    {
        string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
        int Count(int min) => int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= min
            ? n : throw new ArgumentException($"{args[i - 1]} needs a whole number >= {min}");
        options = args[i] switch
        {
            "--iterations" => options with { Iterations = Count(1) },
            "--warmup" => options with { Warmup = Count(0) },
            "--pods" => options with { Pods = Count(1) },
            "--no-reference" => options with { Reference = false },
            "--no-memory" => options with { Memory = false },
            "--no-pull" => options with { Pull = false },
            "--no-install" => options with { Install = false },
            "--daemon" => options with { DaemonBinary = Path.GetFullPath(Value()) },
            "--log-level" => options with { LogLevel = Value() },
            "--output" => options with { Output = Path.GetFullPath(Value()) },
            "-h" or "--help" => throw new HelpException(),
            _ => throw new ArgumentException($"unknown argument {args[i]}"),
        };
    }
}
catch (HelpException)
{
    Console.WriteLine(Usage);
    return 0;
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"{e.Message}\n{Usage}");
    return 2;
}

// Ctrl-C / SIGTERM / SIGHUP: stop measuring, then clean up (never exit with pods or the daemon left behind).
using var cts = new CancellationTokenSource();
var signals = new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP }.Select(signal =>
    PosixSignalRegistration.Create(signal, context =>
    {
        context.Cancel = true;
        if (cts.IsCancellationRequested)
        {
            Console.Error.WriteLine("still cleaning up; please wait");
            return;
        }
        Console.Error.WriteLine($"\n{context.Signal}: stopping, cleaning up");
        cts.Cancel();
    })).ToList();

var bench = new Bench(options, cts.Token);
int status;
try
{
    status = await bench.RunAsync();
}
catch (Exception) when (cts.IsCancellationRequested)
{
    Console.Error.WriteLine("interrupted: results not written");
    status = 130;
}
catch (BenchException e)
{
    Console.Error.WriteLine($"bench failed: {e.Message}");
    status = 1;
}
catch (Exception e)
{
    Console.Error.WriteLine($"bench failed: {e}");
    status = 1;
}
finally
{
    await bench.CleanupAsync();
    foreach (PosixSignalRegistration registration in signals) registration.Dispose();
}
return status;

internal sealed class HelpException : Exception;
