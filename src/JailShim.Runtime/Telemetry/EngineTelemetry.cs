using System.Diagnostics;

namespace JailShim.Runtime.Telemetry;

/// <summary>The engine's trace source: one child span per syscall phase.</summary>
public static class EngineTelemetry
{
    public const string SourceName = "JailShim.Engine";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>Starts a phase span (internal kind) under the current span.</summary>
    public static Activity? Phase(string name, string? podId = null, string? containerId = null)
    {
        Activity? activity = Source.StartActivity(name, ActivityKind.Internal);
        if (activity is null) return null;
        if (podId is not null) activity.SetTag("jailshim.pod_id", podId);
        if (containerId is not null) activity.SetTag("jailshim.container_id", containerId);
        return activity;
    }

    /// <summary>Marks a span failed, with the errno when the cause was a system call.</summary>
    public static void Fail(Activity? activity, Exception error)
    {
        if (activity is null) return;
        activity.SetStatus(ActivityStatusCode.Error, error.Message);
        if (error is Interop.ErrnoException errno) activity.SetTag("error.errno", errno.Errno);
    }

    /// <summary>Records a phase the C program measured itself, with its own timestamps.</summary>
    public static void Recorded(string name, DateTimeOffset start, DateTimeOffset end, int errno, string? detail,
        string? podId, string? containerId)
    {
        using Activity? activity = Source.StartActivity(name, ActivityKind.Internal, parentContext: default, startTime: start);
        if (activity is null) return;
        if (podId is not null) activity.SetTag("jailshim.pod_id", podId);
        if (containerId is not null) activity.SetTag("jailshim.container_id", containerId);
        if (detail is not null) activity.SetTag("jailshim.target", detail);
        activity.SetTag("jailshim.measured_by", "shim");
        if (errno != 0)
        {
            activity.SetTag("error.errno", errno);
            activity.SetStatus(ActivityStatusCode.Error, Interop.Sys.StrError(errno));
        }
        activity.SetEndTime(end.UtcDateTime);
    }
}
