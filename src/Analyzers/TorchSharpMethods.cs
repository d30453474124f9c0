using System.Collections.Immutable;
using System.Text;
using Microsoft.CodeAnalysis;

namespace Latent.Analyzers;

/// <summary>
/// The TorchSharp methods that make a Scalar nothing holds while libtorch reads it, read from the embedded list that
/// <c>find-unheld-scalars.py</c> derives from TorchSharp's IL, matched by IL-style signature.
/// </summary>
public static class TorchSharpMethods
{
    static readonly (ImmutableHashSet<string> Methods, string Version) List = Load();

    /// <summary>The TorchSharp version (major.minor.build) the list was made from.</summary>
    public static string Version => List.Version;

    static (ImmutableHashSet<string>, string) Load()
    {
        using var stream = typeof(TorchSharpMethods).Assembly.GetManifestResourceStream("Latent.Analyzers.TorchSharpUnheldScalars.txt")
            ?? throw new InvalidOperationException("TorchSharpUnheldScalars.txt is not embedded");
        using var reader = new StreamReader(stream);
        var set = ImmutableHashSet.CreateBuilder<string>(StringComparer.Ordinal);
        string? line, version = "";
        while ((line = reader.ReadLine()) is not null)
        {
            if (line.StartsWith("version ", StringComparison.Ordinal)) version = line.Substring(8).Trim();
            else if (line.Length > 0 && line[0] != '#') set.Add(line.Trim());
        }
        return (set.ToImmutable(), version);
    }

    /// <summary>Whether the method (from TorchSharp) is on the list.</summary>
    public static bool MakesUnheldScalar(IMethodSymbol method)
    {
        method = method.ReducedFrom ?? method;   // an extension method called as an instance one
        method = method.OriginalDefinition;
        if (method.ContainingAssembly?.Name != "TorchSharp") return false;
        return List.Methods.Contains(Signature(method));
    }

    /// <summary>Owner::Name(types) as the IL lists it, e.g. <c>TorchSharp.torch/Tensor::op_Addition(TorchSharp.torch/Tensor,float64)</c>.</summary>
    public static string Signature(IMethodSymbol method)
    {
        var sb = new StringBuilder(TypeName(method.ContainingType, owner: true)).Append("::").Append(method.MetadataName).Append('(');
        for (int i = 0; i < method.Parameters.Length; i++)
        {
            if (i > 0) sb.Append(',');
            var p = method.Parameters[i];
            sb.Append(TypeName(p.Type, owner: false));
            if (p.RefKind != RefKind.None) sb.Append('&');
        }
        return sb.Append(')').ToString();
    }

    static string TypeName(ITypeSymbol type, bool owner)
    {
        switch (type.SpecialType)
        {
            case SpecialType.System_Boolean: return "bool";
            case SpecialType.System_Char: return "char";
            case SpecialType.System_SByte: return "int8";
            case SpecialType.System_Byte: return "uint8";
            case SpecialType.System_Int16: return "int16";
            case SpecialType.System_UInt16: return "uint16";
            case SpecialType.System_Int32: return "int32";
            case SpecialType.System_UInt32: return "uint32";
            case SpecialType.System_Int64: return "int64";
            case SpecialType.System_UInt64: return "uint64";
            case SpecialType.System_Single: return "float32";
            case SpecialType.System_Double: return "float64";
            case SpecialType.System_String: return "string";
            case SpecialType.System_Object: return "object";
            case SpecialType.System_IntPtr: return "native int";
            case SpecialType.System_Void: return "void";
        }
        if (type is IArrayTypeSymbol array) return TypeName(array.ElementType, false) + "[]";
        if (type is ITypeParameterSymbol tp) return (tp.TypeParameterKind == TypeParameterKind.Method ? "!!" : "!") + tp.Ordinal;
        if (type is not INamedTypeSymbol named) return type.ToDisplayString();
        string name = named.ContainingType is { } outer
            ? TypeName(outer, owner: true) + "/" + named.MetadataName
            : (named.ContainingNamespace.IsGlobalNamespace ? "" : named.ContainingNamespace.ToDisplayString() + ".") + named.MetadataName;
        if (owner || !named.IsGenericType) return name;
        return name + "<" + string.Join(",", named.TypeArguments.Select(a => TypeName(a, false))) + ">";
    }
}
