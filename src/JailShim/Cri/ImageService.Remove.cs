using Grpc.Core;
using JailShim.Cri.V1;
using JailShim.Runtime.Images;

namespace JailShim.Cri;

/// <summary>RemoveImage: by id, tag or repo digest; then the layers and blobs nothing uses go.</summary>
public sealed partial class ImageService
{
    public override Task<RemoveImageResponse> RemoveImage(RemoveImageRequest request, ServerCallContext context)
    {
        if (request.Image is null || request.Image.Image.Length == 0)
            throw CriMapping.Invalid("image.image", "is required");
        // A tag of an image with other names removes just that tag; an id, or the last name, removes the image.
        // An unknown image is fine (CRI: removal is idempotent). Containers using it keep its layers.
        if (_images.Remove(request.Image.Image) is not null)
            _engine.CollectImageGarbage();
        return Task.FromResult(new RemoveImageResponse());
    }
}
