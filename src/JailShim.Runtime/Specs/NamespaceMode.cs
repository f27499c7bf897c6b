namespace JailShim.Runtime.Specs;

/// <summary>Who a namespace is shared with: the whole pod, this container alone, or the host.</summary>
public enum NamespaceMode
{
    Pod,
    Container,
    Node,
}
