using Grpc.Core;
using JailShim.Cri.V1;
using JailShim.Runtime;
using JailShim.Runtime.Images;

namespace JailShim.Cri;

/// <summary>The CRI ImageService over the engine's image store; one file per group of RPCs (ImageService.*.cs).</summary>
public sealed partial class ImageService(ImageStore store, Engine engine) : V1.ImageService.ImageServiceBase
{
    private readonly ImageStore _images = store;

    /// <summary>For what containers use: image garbage collection, container filesystem usage.</summary>
    private readonly Engine _engine = engine;

    public override Task<ListImagesResponse> ListImages(ListImagesRequest request, ServerCallContext context)
    {
        IEnumerable<StoredImage> found = _images.List();
        if (request.Filter?.Image is { Image.Length: > 0 } spec)
            found = _images.Find(spec.Image) is { } one ? [one] : [];
        var response = new ListImagesResponse();
        response.Images.Add(found.Select(ToCri));
        return Task.FromResult(response);
    }

    public override Task<ImageStatusResponse> ImageStatus(ImageStatusRequest request, ServerCallContext context)
    {
        if (request.Image is null || request.Image.Image.Length == 0)
            throw CriMapping.Invalid("image.image", "is required");
        // CRI: an unknown image is not an error, just an empty answer.
        var response = new ImageStatusResponse();
        if (_images.Find(request.Image.Image) is { } image)
        {
            response.Image = ToCri(image);
            if (request.Verbose)
                response.Info["info"] = VerboseInfo(image);
        }
        return Task.FromResult(response);
    }

    private static Image ToCri(StoredImage image)
    {
        var cri = new Image { Id = image.Id, Size = (ulong)image.Size, Spec = new ImageSpec { Image = image.Id } };
        cri.RepoTags.Add(image.RepoTags);
        cri.RepoDigests.Add(image.RepoDigests);
        // The image's user: a number is a uid, anything else a name (CRI wants one or the other).
        string user = image.Config.User ?? "";
        string name = user.Split(':')[0];
        if (name.Length == 0) cri.Uid = new Int64Value { Value = 0 };
        else if (long.TryParse(name, out long uid)) cri.Uid = new Int64Value { Value = uid };
        else cri.Username = name;
        return cri;
    }
}
