using System.Net.Sockets;
using System.Text;
using JailShim.Runtime.Telemetry;

namespace JailShim.Runtime.Shim;

/// <summary>
/// Talks to a container's monitor over its control socket: one request per
/// connection, one reply line (a "start" reply may be preceded by phase lines).
/// </summary>
public sealed class MonitorClient(string socketPath)
{
    public string SocketPath { get; } = socketPath;

    /// <summary>Sends a request and returns the final reply line, split on spaces; null if the monitor is gone.</summary>
    public async Task<string[]?> RequestAsync(string request, string? podId, string? containerId,
        CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath), cancellationToken);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable)
        {
            return null;
        }
        catch (SocketException) when (!File.Exists(SocketPath))
        {
            return null;
        }
        try
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes(request + "\n"), SocketFlags.None, cancellationToken);
            return await ReadReplyAsync(socket, podId, containerId, cancellationToken);
        }
        catch (Exception e) when (e is IOException or SocketException && !cancellationToken.IsCancellationRequested)
        {
            // A monitor that exits (its container is done) resets the connections it had not answered.
            return null;
        }
    }

    private static async Task<string[]?> ReadReplyAsync(Socket socket, string? podId, string? containerId,
        CancellationToken cancellationToken)
    {
        using var stream = new NetworkStream(socket, ownsSocket: false);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            string[] fields = line.Split(' ');
            if (fields[0] == "phase" && fields.Length >= 5)
            {
                ShimPhase phase = ShimPhase.Parse(fields);
                EngineTelemetry.Recorded(phase.Name, phase.Start, phase.End, phase.Errno, phase.Detail, podId, containerId);
                continue;
            }
            return fields;
        }
        return null; // the monitor went away mid-request (its container exited and it finished)
    }
}
