namespace JailShim.Runtime;

/// <summary>What kind of failure the engine met; the daemon maps each kind to one gRPC status.</summary>
public enum EngineErrorKind
{
    InvalidArgument,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    Internal,
    /// <summary>A registry refused our credentials, or wanted some and we had none.</summary>
    Unauthenticated,
    /// <summary>Authenticated, but not allowed (a registry's 403).</summary>
    PermissionDenied,
    /// <summary>A registry (or other remote) could not be reached or failed on its side; worth retrying.</summary>
    Unavailable,
    /// <summary>Content does not match its digest or size, or cannot be decoded: corrupt in transit or at rest.</summary>
    DataLoss,
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
