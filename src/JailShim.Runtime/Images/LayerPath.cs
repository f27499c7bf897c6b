namespace JailShim.Runtime.Images;

/// <summary>Turns a tar entry name into path components inside the layer, refusing names that leave it.</summary>
internal static class LayerPath
{
    /// <summary>
    /// "./usr/bin/ls" -> ["usr","bin","ls"]; "./" -> [] (the layer root).
    /// Absolute names and any ".." that climbs above the root are refused:
    /// a layer describes a tree, never a place on the host.
    /// </summary>
    public static string[] Split(string name, string entryName)
    {
        if (name.Length == 0) throw new UnsafeLayerEntryException(entryName, "empty path");
        if (name[0] == '/') throw new UnsafeLayerEntryException(entryName, $"absolute path '{name}'");
        if (name.Contains('\0')) throw new UnsafeLayerEntryException(entryName, "NUL in path");

        var parts = new List<string>();
        foreach (string part in name.Split('/'))
        {
            if (part is "" or ".") continue;
            if (part == "..")
            {
                if (parts.Count == 0) throw new UnsafeLayerEntryException(entryName, $"path '{name}' escapes the layer root");
                parts.RemoveAt(parts.Count - 1);
                continue;
            }
            parts.Add(part);
        }
        return [.. parts];
    }
}
