using System.Diagnostics;
using System.Text.Json;
using OpenTelemetry;

namespace JailShim.Telemetry;

/// <summary>
/// Writes each finished span as one JSON line to a file: a trace anyone can
/// read with jq, and what the conformance tests check the span tree with.
/// </summary>
public sealed class JsonLinesExporter(string path) : BaseExporter<Activity>
{
    private readonly Lock _lock = new();
    private readonly StreamWriter _writer = new(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };

    public override ExportResult Export(in Batch<Activity> batch)
    {
        lock (_lock)
        {
            foreach (Activity span in batch)
            {
                var line = new Dictionary<string, object?>
                {
                    ["traceId"] = span.TraceId.ToHexString(),
                    ["spanId"] = span.SpanId.ToHexString(),
                    ["parentSpanId"] = span.ParentSpanId == default ? null : span.ParentSpanId.ToHexString(),
                    ["name"] = span.DisplayName,
                    ["source"] = span.Source.Name,
                    ["kind"] = span.Kind.ToString(),
                    ["startUnixNano"] = (span.StartTimeUtc - DateTime.UnixEpoch).Ticks * 100,
                    ["endUnixNano"] = (span.StartTimeUtc + span.Duration - DateTime.UnixEpoch).Ticks * 100,
                    ["status"] = span.Status.ToString(),
                    ["statusDescription"] = span.StatusDescription,
                    ["attributes"] = span.TagObjects.ToDictionary(t => t.Key, t => t.Value?.ToString()),
                };
                _writer.WriteLine(JsonSerializer.Serialize(line));
            }
        }
        return ExportResult.Success;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _writer.Dispose();
        base.Dispose(disposing);
    }
}
