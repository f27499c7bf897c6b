namespace JailShim.Runtime.Shim;

/// <summary>One step the C program timed: name, start and end, errno (0 when it worked), and its target.</summary>
public sealed record ShimPhase(string Name, DateTimeOffset Start, DateTimeOffset End, int Errno, string? Detail)
{
    /// <summary>Parses "phase NAME START_NS END_NS ERRNO [DETAIL]" (the leading word already checked).</summary>
    public static ShimPhase Parse(string[] fields) => new(
        fields[1],
        FromUnixNanos(long.Parse(fields[2])),
        FromUnixNanos(long.Parse(fields[3])),
        int.Parse(fields[4]),
        fields.Length > 5 ? string.Join(' ', fields[5..]) : null);

    public static DateTimeOffset FromUnixNanos(long ns) =>
        DateTimeOffset.UnixEpoch.AddTicks(ns / 100);
}
