namespace JailShim.Runtime;

/// <summary>What kind of failure the engine met; the daemon maps each kind to one gRPC status.</summary>
public enum EngineErrorKind
{
    InvalidArgument,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    Internal,
}

/// <summary>The one exception type the engine lets out to its callers.</summary>
public sealed class EngineException(EngineErrorKind kind, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public EngineErrorKind Kind { get; } = kind;

    public static EngineException Invalid(string field, string problem) =>
        new(EngineErrorKind.InvalidArgument, $"{field}: {problem}");

    public static EngineException NotFound(string what, string id) =>
        new(EngineErrorKind.NotFound, $"{what} \"{id}\" not found");
}
