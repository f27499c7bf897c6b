using System.CommandLine;
using JailShim.Runtime.Images;

namespace JailShim.Hosting;

/// <summary>
/// <c>jailshim image import PATH [NAME] [--root DIR]</c>: imports an OCI image layout directory or an
/// image archive straight into the store under --root. Safe while the daemon runs on the same root:
/// the store's file locks order the two, and the daemon sees the new image on its next lookup.
/// </summary>
public static class ImageCommand
{
    public static Command Build()
    {
        var path = new Argument<string>("PATH")
        {
            Description = "An OCI image layout directory, or a tar archive: docker save (plain or gzip'd) or a tarred OCI layout.",
        };
        var name = new Argument<string?>("NAME")
        {
            Description = "Name for the image (e.g. example.com/app:1); default: the names the archive or layout gives.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var root = new Option<string>("--root")
        {
            Description = "The daemon's state directory; the image store is DIR/images.",
            DefaultValueFactory = _ => "/var/lib/jailshim",
        };
        var import = new Command("import", "Import images from disk into the store (the daemon may be running).") { path, name, root };
        import.SetAction((parse, ct) => ImportAsync(parse.GetValue(path)!, parse.GetValue(name), parse.GetValue(root)!, ct));
        return new Command("image", "Work on the image store.") { import };
    }

    private static async Task<int> ImportAsync(string path, string? name, string root, CancellationToken ct)
    {
        try
        {
            var store = new ImageStore(Path.Combine(Path.GetFullPath(root), "images"));
            IReadOnlyList<StoredImage> images = await store.ImportPathAsync(path, name, ct: ct);
            foreach (StoredImage image in images)
            {
                Console.WriteLine($"{image.Id} {(image.RepoTags.Count == 0 ? "(untagged)" : string.Join(" ", image.RepoTags))}");
                if (image.RepoTags.Count == 0)
                    Console.Error.WriteLine($"{image.Id}: the source gives no name; run again with NAME to tag it");
            }
            return 0;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Console.Error.WriteLine($"jailshim image import: {e.Message}");
            return 1;
        }
    }
}
