using System.Runtime.InteropServices;

namespace JailShim.Runtime.Images.Registry;

/// <summary>The platform images are picked for from manifest lists: linux and this machine's architecture, named the OCI way.</summary>
internal static class HostPlatform
{
    public const string Os = "linux";

    public static string Architecture { get; } = RuntimeInformation.OSArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => "amd64",
        System.Runtime.InteropServices.Architecture.Arm64 => "arm64",
        System.Runtime.InteropServices.Architecture.Arm or System.Runtime.InteropServices.Architecture.Armv6 => "arm",
        System.Runtime.InteropServices.Architecture.X86 => "386",
        System.Runtime.InteropServices.Architecture.S390x => "s390x",
        System.Runtime.InteropServices.Architecture.Ppc64le => "ppc64le",
        System.Runtime.InteropServices.Architecture.RiscV64 => "riscv64",
        System.Runtime.InteropServices.Architecture.LoongArch64 => "loong64",
        var other => other.ToString().ToLowerInvariant(),
    };

    /// <summary>The variant we prefer when a list has several for our architecture ("v8" for arm64, "v7" for arm).</summary>
    public static string? Variant { get; } = Architecture switch
    {
        "arm64" => "v8",
        "arm" => RuntimeInformation.OSArchitecture == System.Runtime.InteropServices.Architecture.Armv6 ? "v6" : "v7",
        _ => null,
    };

    public static string Name => Os + "/" + Architecture + (Variant is null ? "" : "/" + Variant);

    /// <summary>
    /// The entry of a manifest list to pull: linux + our architecture, an exact variant preferred over
    /// none, and any variant last. Attestations and other unknown/unknown entries never match.
    /// </summary>
    public static RegistryDescriptor? Pick(IEnumerable<RegistryDescriptor> manifests)
    {
        return manifests
            .Where(m => m.Platform is { } p
                && string.Equals(p.Os, Os, StringComparison.Ordinal)
                && string.Equals(p.Architecture, Architecture, StringComparison.Ordinal))
            .OrderBy(m => string.Equals(m.Platform!.Variant, Variant, StringComparison.Ordinal) ? 0
                : string.IsNullOrEmpty(m.Platform!.Variant) ? 1 : 2)
            .FirstOrDefault();
    }
}
