using JailShim.Runtime.Images.Registry;

namespace JailShim.Hosting;

/// <summary>
/// The daemon's JSON config file (<c>--config FILE</c>). Today it holds the registry settings:
/// <code>
/// {
///   "registries": [
///     { "host": "docker.io", "mirrors": ["http://127.0.0.1:5000", "https://mirror.example"] },
///     { "host": "registry.internal:5000", "insecure": true, "username": "ci", "password": "secret" }
///   ]
/// }
/// </code>
/// A list rather than an object keyed by host, because hosts carry ports and ':' is the
/// configuration system's own separator.
/// </summary>
public sealed record DaemonConfigFile
{
    public IReadOnlyList<RegistryHostConfig> Registries { get; init; } = [];

    /// <summary>Reads and checks <paramref name="path"/>; throws <see cref="FormatException"/> saying what is wrong and where.</summary>
    public static DaemonConfigFile Load(string path)
    {
        if (!File.Exists(path)) throw new FormatException($"--config {path}: no such file");
        IConfigurationRoot root;
        try
        {
            root = new ConfigurationBuilder().AddJsonFile(path, optional: false, reloadOnChange: false).Build();
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or System.Text.Json.JsonException)
        {
            throw new FormatException($"--config {path}: not valid JSON: {e.Message}", e);
        }

        string[] known = ["registries"];
        if (root.GetChildren().FirstOrDefault(c => !known.Contains(c.Key, StringComparer.OrdinalIgnoreCase)) is { } unknown)
            throw new FormatException($"--config {path}: unknown setting '{unknown.Key}' (known: {string.Join(", ", known)})");

        var registries = new List<RegistryHostConfig>();
        IConfigurationSection section = root.GetSection("registries");
        if (section.Value is { Length: > 0 })
            throw new FormatException($"--config {path}: registries must be a list of {{\"host\": ...}} objects");
        foreach (IConfigurationSection entry in section.GetChildren().OrderBy(c => int.TryParse(c.Key, out int i) ? i : int.MaxValue))
        {
            if (!int.TryParse(entry.Key, out _))
                throw new FormatException($"--config {path}: registries must be a list (got a key '{entry.Key}'); write [{{\"host\": \"{entry.Key}\", ...}}]");
            string where = $"--config {path}: registries[{entry.Key}]";
            string[] fields = ["host", "mirrors", "insecure", "username", "password"];
            if (entry.GetChildren().FirstOrDefault(c => !fields.Contains(c.Key, StringComparer.OrdinalIgnoreCase)) is { } extra)
                throw new FormatException($"{where}: unknown setting '{extra.Key}' (known: {string.Join(", ", fields)})");
            string host = entry["host"] is { Length: > 0 } h ? h : throw new FormatException($"{where}: \"host\" is required");
            bool insecure = false;
            if (entry["insecure"] is { } text && !bool.TryParse(text, out insecure))
                throw new FormatException($"{where}: insecure must be true or false, not '{text}'");
            IConfigurationSection mirrors = entry.GetSection("mirrors");
            if (mirrors.Value is { Length: > 0 })
                throw new FormatException($"{where}: mirrors must be a list of endpoints, like [\"http://127.0.0.1:5000\"]");
            registries.Add(new RegistryHostConfig
            {
                Host = host,
                Mirrors = [.. mirrors.GetChildren().OrderBy(c => int.TryParse(c.Key, out int i) ? i : int.MaxValue)
                    .Select(c => c.Value is { Length: > 0 } m ? m : throw new FormatException($"{where}: mirrors[{c.Key}] is empty or not a string"))],
                Insecure = insecure,
                Username = entry["username"] is { Length: > 0 } user ? user : null,
                Password = entry["password"],
            });
        }

        try
        {
            _ = new RegistryHosts(registries); // the same checks the pull path relies on, at start-up rather than at first pull
        }
        catch (FormatException e)
        {
            throw new FormatException($"--config {path}: {e.Message}", e);
        }
        return new DaemonConfigFile { Registries = registries };
    }
}
