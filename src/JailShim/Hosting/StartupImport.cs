using JailShim.Runtime.Images;

namespace JailShim.Hosting;

/// <summary>
/// --import-dir: at start, imports every image archive (*.tar, *.tar.gz, *.tgz) and OCI layout
/// directory in the directory, in name order. Images already stored (same id) are skipped, so a
/// restart costs one config read per entry. A bad entry is logged and skipped: it must not keep
/// the daemon from serving.
/// </summary>
public static class StartupImport
{
    public static async Task RunAsync(ImageStore images, string dir, ILogger log)
    {
        if (!Directory.Exists(dir))
        {
            log.LogWarning("--import-dir {Dir} does not exist; nothing imported", dir);
            return;
        }
        foreach (string entry in Directory.EnumerateFileSystemEntries(dir).Order(StringComparer.Ordinal))
        {
            bool archive = File.Exists(entry) && (entry.EndsWith(".tar", StringComparison.Ordinal)
                || entry.EndsWith(".tar.gz", StringComparison.Ordinal) || entry.EndsWith(".tgz", StringComparison.Ordinal));
            bool layout = Directory.Exists(entry) && File.Exists(Path.Combine(entry, "oci-layout"));
            if (!archive && !layout) continue;
            try
            {
                foreach (StoredImage image in await images.ImportPathAsync(entry, skipExisting: true))
                    log.LogInformation("import-dir: {Entry}: {Names} {Id}", Path.GetFileName(entry),
                        image.RepoTags.Count == 0 ? "(untagged)" : string.Join(",", image.RepoTags), image.Id);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogError("import-dir: {Entry} not imported: {Error}", entry, e.Message);
            }
        }
    }
}
