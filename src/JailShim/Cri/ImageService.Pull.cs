using Grpc.Core;
using JailShim.Cri.V1;
using JailShim.Runtime.Images.Registry;

namespace JailShim.Cri;

/// <summary>PullImage: the request's image and AuthConfig handed to the engine's registry pull.</summary>
public sealed partial class ImageService
{
    public override async Task<PullImageResponse> PullImage(PullImageRequest request, ServerCallContext context)
    {
        if (request.Image is null || request.Image.Image.Length == 0)
            throw CriMapping.Invalid("image.image", "is required");
        RegistryCredentials? credentials = request.Auth is { } auth
            ? RegistryCredentials.From(auth.Username, auth.Password, auth.Auth, auth.IdentityToken, auth.RegistryToken, auth.ServerAddress)
            : null;
        var image = await _images.PullAsync(request.Image.Image, credentials, context.CancellationToken);
        // image_ref is the image id: what ImageStatus, ListImages and CreateContainer's image_ref report for it.
        return new PullImageResponse { ImageRef = image.Id };
    }
}
