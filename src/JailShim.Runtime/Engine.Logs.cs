using JailShim.Runtime.Pods;
using JailShim.Runtime.State;

namespace JailShim.Runtime;

public sealed partial class Engine
{
    /// <summary>Has the monitor reopen the container's log file (after the kubelet rotated it).</summary>
    public async Task ReopenLogAsync(string id, CancellationToken cancellationToken)
    {
        ContainerRecord record = FindContainer(id) ?? throw EngineException.NotFound("container", id);
        if (Describe(record).State != ContainerState.Running)
            throw new EngineException(EngineErrorKind.FailedPrecondition, $"container {record.Id} is not running");
        string[]? reply = await Monitor(record.Id).RequestAsync("reopen", record.PodId, record.Id, cancellationToken);
        if (reply is not ["ok", ..])
            throw new EngineException(EngineErrorKind.FailedPrecondition,
                $"reopen log of {record.Id}: {(reply is null ? "the container exited" : string.Join(' ', reply))}");
    }
}
