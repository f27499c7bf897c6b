using System.Text.Json;

namespace JailShim.Conformance;

/// <summary>One span from the daemon's --trace-file (JSON lines).</summary>
public sealed record Span(string TraceId, string SpanId, string? ParentSpanId, string Name, string Source,
    string Status, Dictionary<string, string?> Attributes)
{
    public static async Task<List<Span>> ReadAsync(string path)
    {
        var spans = new List<Span>();
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        while (await reader.ReadLineAsync() is { } line)
        {
            JsonElement e = JsonDocument.Parse(line).RootElement;
            spans.Add(new Span(
                e.GetProperty("traceId").GetString()!,
                e.GetProperty("spanId").GetString()!,
                e.GetProperty("parentSpanId").GetString(),
                e.GetProperty("name").GetString()!,
                e.GetProperty("source").GetString()!,
                e.GetProperty("status").GetString()!,
                e.GetProperty("attributes").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString())));
        }
        return spans;
    }
}
