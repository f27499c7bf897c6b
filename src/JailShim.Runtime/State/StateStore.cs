using System.Text.Json;

namespace JailShim.Runtime.State;

/// <summary>
/// The engine's state under --root: one directory per sandbox and per container,
/// each with a state.json written atomically.
/// </summary>
public sealed class StateStore
{
    private const string StateFileName = "state.json";

    public StateStore(string root)
    {
        SandboxesDir = Path.Combine(root, "sandboxes");
        ContainersDir = Path.Combine(root, "containers");
        Directory.CreateDirectory(SandboxesDir);
        Directory.CreateDirectory(ContainersDir);
    }

    public string SandboxesDir { get; }
    public string ContainersDir { get; }

    public string SandboxDir(string id) => Path.Combine(SandboxesDir, id);
    public string ContainerDir(string id) => Path.Combine(ContainersDir, id);

    public Task SaveAsync(SandboxRecord record, CancellationToken cancellationToken = default) =>
        AtomicFile.WriteAsync(Path.Combine(SandboxDir(record.Id), StateFileName),
            JsonSerializer.SerializeToUtf8Bytes(record, StateJson.Default.SandboxRecord), cancellationToken);

    public Task SaveAsync(ContainerRecord record, CancellationToken cancellationToken = default) =>
        AtomicFile.WriteAsync(Path.Combine(ContainerDir(record.Id), StateFileName),
            JsonSerializer.SerializeToUtf8Bytes(record, StateJson.Default.ContainerRecord), cancellationToken);

    /// <summary>Sandbox records on disk, and the ids of directories with no readable record (a crash mid-create).</summary>
    public (List<SandboxRecord> Records, List<string> Broken) LoadSandboxes() =>
        Load(SandboxesDir, StateJson.Default.SandboxRecord);

    public (List<ContainerRecord> Records, List<string> Broken) LoadContainers() =>
        Load(ContainersDir, StateJson.Default.ContainerRecord);

    private static (List<T>, List<string>) Load<T>(string dir, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        var records = new List<T>();
        var broken = new List<string>();
        foreach (string entry in Directory.EnumerateDirectories(dir))
        {
            string file = Path.Combine(entry, StateFileName);
            try
            {
                T? record = JsonSerializer.Deserialize(File.ReadAllBytes(file), type);
                if (record is null) broken.Add(Path.GetFileName(entry));
                else records.Add(record);
            }
            catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
            {
                broken.Add(Path.GetFileName(entry));
            }
        }
        return (records, broken);
    }
}
