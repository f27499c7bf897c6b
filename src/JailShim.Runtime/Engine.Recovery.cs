using JailShim.Runtime.Pods;
using JailShim.Runtime.State;
using Microsoft.Extensions.Logging;

namespace JailShim.Runtime;

public sealed partial class Engine
{
    /// <summary>
    /// Rebuilds the index from disk after a (re)start. Monitors and infra
    /// processes kept running while the daemon was away; anything a crash left
    /// half-made is undone.
    /// </summary>
    public async Task RecoverAsync(CancellationToken cancellationToken)
    {
        var (sandboxes, brokenSandboxes) = _state.LoadSandboxes();
        var (containers, brokenContainers) = _state.LoadContainers();

        foreach (string id in brokenSandboxes.Concat(brokenContainers))
        {
            _logger.LogWarning("removing state directory {Id} with no readable state (a crash mid-create)", id);
            DeleteDir(_state.SandboxDir(id));
            DeleteDir(_state.ContainerDir(id));
        }

        foreach (SandboxRecord sandbox in sandboxes)
        {
            if (sandbox.Phase == SandboxPhase.Creating)
            {
                _logger.LogWarning("finishing the rollback of pod sandbox {Id}, cut off while being made", sandbox.Id);
                await TearDownSandboxAsync(sandbox);
                continue;
            }
            _sandboxes[sandbox.Id] = sandbox;
            _names.Reserve(SandboxKey(sandbox.Spec), sandbox.Id);
        }

        foreach (ContainerRecord container in containers)
        {
            if (container.Creating || !_sandboxes.ContainsKey(container.PodId))
            {
                _logger.LogWarning("removing container {Id}: cut off while being made, or its pod is gone", container.Id);
                await TearDownContainerAsync(container);
                continue;
            }
            _containers[container.Id] = container;
            _names.Reserve(ContainerKey(container.PodId, container.Spec), container.Id);
        }
        cancellationToken.ThrowIfCancellationRequested();
        _logger.LogInformation("recovered {Sandboxes} pod sandboxes and {Containers} containers", _sandboxes.Count, _containers.Count);
    }
}
