using System.Text.Json.Nodes;

namespace JailShim.Bench;

/// <summary>Samples of one measured step (ms) and their order statistics.</summary>
public sealed class Samples(string name)
{
    private readonly List<double> _values = [];

    public string Name { get; } = name;
    public int Count => _values.Count;
    public IReadOnlyList<double> Values => _values;

    public void Add(double ms) => _values.Add(ms);

    public double Median => Percentile(50);
    public double P90 => Percentile(90);
    public double Min => _values.Count == 0 ? double.NaN : _values.Min();
    public double Max => _values.Count == 0 ? double.NaN : _values.Max();
    public double Mean => _values.Count == 0 ? double.NaN : _values.Average();

    /// <summary>Median: the mean of the middle two for an even count; other percentiles: nearest rank.</summary>
    public double Percentile(int p)
    {
        if (_values.Count == 0) return double.NaN;
        var sorted = _values.Order().ToList();
        if (p == 50)
        {
            int mid = sorted.Count / 2;
            return sorted.Count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
        }
        int rank = (int)Math.Ceiling(p / 100.0 * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }

    public JsonObject ToJson() => new()
    {
        ["n"] = Count,
        ["median_ms"] = Round(Median),
        ["p90_ms"] = Round(P90),
        ["min_ms"] = Round(Min),
        ["max_ms"] = Round(Max),
        ["mean_ms"] = Round(Mean),
        ["samples_ms"] = new JsonArray([.. _values.Select(v => (JsonNode?)JsonValue.Create(Math.Round(v, 3)))]),
    };

    public static JsonNode? Round(double value) => double.IsFinite(value) ? JsonValue.Create(Math.Round(value, 3)) : null;
}
