namespace JailShim.Runtime.Images;

/// <summary>A layer tar entry that would write outside the layer, through a symlink, or in a form we do not unpack.</summary>
public sealed class UnsafeLayerEntryException(string entryName, string reason)
    : Exception($"layer entry '{entryName}' refused: {reason}")
{
    public string EntryName { get; } = entryName;
}
