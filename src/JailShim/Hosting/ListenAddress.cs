using System.Net;

namespace JailShim.Hosting;

/// <summary>One address the daemon serves on: a unix socket path or a loopback TCP endpoint.</summary>
public sealed record ListenAddress(string? SocketPath, IPEndPoint? Tcp)
{
    public static ListenAddress Parse(string text)
    {
        if (text.StartsWith("unix://", StringComparison.Ordinal))
        {
            string path = text["unix://".Length..];
            if (!path.StartsWith('/')) throw new FormatException($"--listen {text}: the socket path must be absolute");
            return new ListenAddress(path, null);
        }
        if (text.StartsWith('/')) return new ListenAddress(text, null);
        string hostPort = text.StartsWith("tcp://", StringComparison.Ordinal) ? text["tcp://".Length..] : text;
        if (!IPEndPoint.TryParse(hostPort, out IPEndPoint? endpoint) || endpoint.Port == 0)
            throw new FormatException($"--listen {text}: expected unix:///path or tcp://127.0.0.1:PORT");
        if (!IPAddress.IsLoopback(endpoint.Address))
            throw new FormatException($"--listen {text}: TCP is served on loopback addresses only");
        return new ListenAddress(null, endpoint);
    }
}
