using Grpc.Core;
using JailShim.Cri.V1;
using JailShim.Runtime.Images;

namespace JailShim.Cri;

/// <summary>ImageFsInfo: bytes and inodes used by the image store, and by the containers' writable layers.</summary>
public sealed partial class ImageService
{
    public override async Task<ImageFsInfoResponse> ImageFsInfo(ImageFsInfoRequest request, ServerCallContext context)
    {
        // A walk of every file (du): off the request thread.
        (FilesystemUsage images, FilesystemUsage containers) = await Task.Run(
            () => (Usage(_images.Root), Usage(_engine.ContainersDir)), context.CancellationToken);
        var response = new ImageFsInfoResponse();
        response.ImageFilesystems.Add(images);
        response.ContainerFilesystems.Add(containers);
        return response;
    }

    private static FilesystemUsage Usage(string dir)
    {
        ImageFsUsage usage = ImageFsUsage.Measure(dir);
        return new FilesystemUsage
        {
            Timestamp = (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100,
            FsId = new FilesystemIdentifier { Mountpoint = dir },
            UsedBytes = new UInt64Value { Value = (ulong)usage.UsedBytes },
            InodesUsed = new UInt64Value { Value = (ulong)usage.InodesUsed },
        };
    }
}
