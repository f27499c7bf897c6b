namespace JailShim.Runtime.Pods;

/// <summary>Names in use (pod name+uid+namespace+attempt, container name+attempt in a pod) mapped to ids.</summary>
public sealed class NameRegistry
{
    private readonly Dictionary<string, string> _ids = [];
    private readonly Lock _lock = new();

    /// <summary>Takes the name for the id; returns the id already holding it, or null when it was free.</summary>
    public string? Reserve(string name, string id)
    {
        lock (_lock)
        {
            if (_ids.TryGetValue(name, out string? holder)) return holder;
            _ids[name] = id;
            return null;
        }
    }

    public void Release(string name, string id)
    {
        lock (_lock)
        {
            if (_ids.TryGetValue(name, out string? holder) && holder == id) _ids.Remove(name);
        }
    }
}
