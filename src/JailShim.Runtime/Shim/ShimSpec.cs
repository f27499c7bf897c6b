using System.Text;

namespace JailShim.Runtime.Shim;

/// <summary>
/// The spec handed to jailshim-shim on its stdin (see native/PROTOCOL.md):
/// one directive per line, TAB between fields, "end" last.
/// </summary>
public sealed class ShimSpec
{
    private readonly StringBuilder _text = new();

    /// <summary>
    /// Adds one directive. Fields holding TAB, newline or NUL are refused: they would change the spec's meaning.
    /// Fields go as they are; only where PROTOCOL.md says so does "-" stand for empty (see <see cref="Optional"/>).
    /// </summary>
    public ShimSpec Add(string directive, params string[] fields)
    {
        _text.Append(directive);
        foreach (string field in fields)
        {
            if (field.AsSpan().IndexOfAny('\t', '\n', '\0') >= 0 || field.Contains('\r'))
                throw EngineException.Invalid(directive, $"value \"{field.ReplaceLineEndings(" ")}\" holds a tab, newline or NUL");
            _text.Append('\t').Append(field);
        }
        _text.Append('\n');
        return this;
    }

    /// <summary>"-" for an empty field of a directive that allows it (log, clone, groups, op-mount's fields).</summary>
    public static string Optional(string field) => field.Length == 0 ? "-" : field;

    public ShimSpec Mount(string source, string target, string fsType, string flags = "", string data = "") =>
        Add("op-mount", Optional(source), target, Optional(fsType), Optional(flags), Optional(data));

    public ShimSpec Mkdir(string path, int mode) => Add("op-mkdir", path, Convert.ToString(mode, 8));

    public ShimSpec CharDevice(string path, int mode, int major, int minor) =>
        Add("op-mknod", path, Convert.ToString(0x2000 | mode, 8), major.ToString(), minor.ToString());

    public ShimSpec Symlink(string target, string linkPath) => Add("op-symlink", target, linkPath);

    public string Encode() => _text.ToString() + "end\n";

    public override string ToString() => Encode();
}
