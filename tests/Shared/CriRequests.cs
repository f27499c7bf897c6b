using JailShim.Cri.V1;

namespace JailShim.Testing;

/// <summary>CRI requests in the shapes the kubelet sends (shared by the conformance tests and the bench).</summary>
public static class CriRequests
{
    /// <summary>A container of the image running the command, logging to NAME.log, in a PID namespace of its own.</summary>
    public static ContainerConfig Container(string image, string name, params string[] command)
    {
        var config = new ContainerConfig
        {
            Metadata = new ContainerMetadata { Name = name },
            Image = new ImageSpec { Image = image },
            LogPath = name + ".log",
            Linux = new LinuxContainerConfig
            {
                SecurityContext = new LinuxContainerSecurityContext
                {
                    NamespaceOptions = new NamespaceOption { Pid = NamespaceMode.Container },
                },
            },
        };
        config.Command.Add(command);
        return config;
    }
}
