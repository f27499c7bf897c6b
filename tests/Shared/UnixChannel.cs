using System.Net.Sockets;
using Grpc.Net.Client;

namespace JailShim.Testing;

/// <summary>A gRPC channel to the daemon's unix socket (shared by the conformance tests and the bench).</summary>
public static class UnixChannel
{
    public static GrpcChannel Create(string socketPath) =>
        GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, ct) =>
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct);
                    return new NetworkStream(socket, ownsSocket: true);
                },
            },
        });
}
