using System.Diagnostics;
using Grpc.Core;
using Grpc.Core.Interceptors;
using JailShim.Runtime;

namespace JailShim.Telemetry;

/// <summary>
/// Gives every RPC the same treatment: a span parented on the caller's
/// traceparent, a log line on failure, and engine errors mapped to gRPC status codes.
/// </summary>
public sealed class RpcInterceptor(ILogger<RpcInterceptor> logger) : Interceptor
{
    public const string SourceName = "JailShim.Rpc";
    private static readonly ActivitySource Source = new(SourceName);

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request,
        ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        using Activity? span = StartSpan(context);
        try
        {
            return await continuation(request, context);
        }
        catch (Exception e)
        {
            RpcException mapped = Map(e, context);
            span?.SetStatus(ActivityStatusCode.Error, mapped.Status.Detail);
            span?.SetTag("rpc.grpc.status_code", (int)mapped.StatusCode);
            if (mapped.StatusCode is StatusCode.Internal or StatusCode.Unknown)
                logger.LogError(e, "{Method} failed", context.Method);
            else
                logger.LogInformation("{Method}: {Code} {Detail}", context.Method, mapped.StatusCode, mapped.Status.Detail);
            throw mapped;
        }
    }

    private static Activity? StartSpan(ServerCallContext context)
    {
        // The caller's trace continues into ours; ASP.NET's own request activity is not the parent we want.
        string? traceparent = context.RequestHeaders.GetValue("traceparent");
        string? tracestate = context.RequestHeaders.GetValue("tracestate");
        ActivityContext parent = default;
        if (traceparent is not null) ActivityContext.TryParse(traceparent, tracestate, out parent);
        string method = context.Method.TrimStart('/');
        Activity? previous = Activity.Current;
        Activity.Current = null; // a root span unless the caller sent a parent
        Activity? span = Source.StartActivity(method, ActivityKind.Server, parent);
        if (span is null)
        {
            Activity.Current = previous;
            return null;
        }
        span.SetTag("rpc.system", "grpc");
        span.SetTag("rpc.method", method);
        return span;
    }

    private static RpcException Map(Exception e, ServerCallContext context) => e switch
    {
        RpcException rpc => rpc,
        EngineException engine => new RpcException(new Status(engine.Kind switch
        {
            EngineErrorKind.InvalidArgument => StatusCode.InvalidArgument,
            EngineErrorKind.NotFound => StatusCode.NotFound,
            EngineErrorKind.AlreadyExists => StatusCode.AlreadyExists,
            EngineErrorKind.FailedPrecondition => StatusCode.FailedPrecondition,
            EngineErrorKind.Unauthenticated => StatusCode.Unauthenticated,
            EngineErrorKind.PermissionDenied => StatusCode.PermissionDenied,
            EngineErrorKind.Unavailable => StatusCode.Unavailable,
            EngineErrorKind.DataLoss => StatusCode.DataLoss,
            _ => StatusCode.Internal,
        }, engine.Message)),
        OperationCanceledException when context.CancellationToken.IsCancellationRequested =>
            new RpcException(new Status(StatusCode.Cancelled, "the call was cancelled")),
        _ => new RpcException(new Status(StatusCode.Internal, $"{e.GetType().Name}: {e.Message}")),
    };
}
