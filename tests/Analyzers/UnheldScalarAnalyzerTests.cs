using System.Collections.Immutable;
using Latent.Core.Engine;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace Latent.Analyzers.Tests;

/// <summary>LAT0001 on snippets compiled against the TorchSharp and Latent.Core this repository builds with.</summary>
public class UnheldScalarAnalyzerTests
{
    [Theory]
    [InlineData("var y = x * 0.5;")]                                      // TorchSharp's Tensor * double
    [InlineData("var y = 0.5 * x;")]
    [InlineData("var y = x + x;")]                                        // alpha = 1 made inside TorchSharp
    [InlineData("var y = x.add(x);")]
    [InlineData("var y = x.square();")]
    [InlineData("var y = x.pow(2);")]                                     // our own implicit conversion
    [InlineData("x.add_(x, alpha: 1 - 0.9);")]
    [InlineData("var y = x.mul(0.5.ToScalar());")]                        // explicit, but nothing holds it
    [InlineData("var y = x.mul((Scalar)0.5);")]
    [InlineData("var half = 0.5.ToScalar(); var y = x.mul(half);")]          // a plain local dies at its last read
    [InlineData("var n = torch.linalg.vector_norm(x, 2);")]
    [InlineData("var r = torch.arange(4);")]
    [InlineData("var o = new TorchSharp.Modules.AdamW(new[] { new TorchSharp.Modules.Parameter(x) }); o.step();")]
    public void Flags_UnheldScalar(string statement)
    {
        var diagnostics = Analyze(statement);
        Assert.Contains(diagnostics, d => d.Id == UnheldScalarAnalyzer.Id);
    }

    [Theory]
    [InlineData("var y = x * Scalars.Of(0.5);")]
    [InlineData("var y = Scalars.Of(0.5) * x;")]
    [InlineData("var y = x.add(x, Scalars.One);")]
    [InlineData("var y = x.pow(Scalars.Of(2));")]
    [InlineData("using var half = 0.5.ToScalar(); var y = x.mul(half);")]
    [InlineData("using var b = (1 - 0.9).ToScalar(); x.add_(x, b);")]
    [InlineData("using (var b = 0.9.ToScalar()) { x.mul_(b); }")]
    [InlineData("var y = x - x; var z = x.mul(x).div(x);")]              // no Scalar at all
    public void Accepts_HeldScalar(string statement)
    {
        var diagnostics = Analyze(statement);
        Assert.DoesNotContain(diagnostics, d => d.Id == UnheldScalarAnalyzer.Id);
    }

    [Fact]
    public void MethodList_IsForTheReferencedTorchSharp()
    {
        // LAT0002 fires in every build that references another TorchSharp; this says so in the test run too.
        string referenced = typeof(TorchSharp.torch).Assembly.GetName().Version!.ToString(3);
        Assert.Equal(referenced, TorchSharpMethods.Version);
        Assert.DoesNotContain(Analyze("var y = x;"), d => d.Id == UnheldScalarAnalyzer.VersionId);
    }

    static ImmutableArray<Diagnostic> Analyze(string statement)
    {
        string source = $$"""
            using Latent.Core.Engine;
            using TorchSharp;
            using static TorchSharp.torch;
            static class Snippet
            {
                static void Run(Tensor x)
                {
                    {{statement}}
                }
            }
            """;
        var references = new[] { typeof(object), typeof(Enumerable), typeof(TorchSharp.torch), typeof(Scalars) }
            .Select(t => t.Assembly.Location)
            .Concat(Directory.GetFiles(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "System.*.dll"))
            .Append(Path.Combine(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "netstandard.dll"))
            .Distinct()
            .Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create("Snippet", [CSharpSyntaxTree.ParseText(source)], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, "the snippet does not compile: " + string.Join("; ", errors));
        return compilation.WithAnalyzers([new UnheldScalarAnalyzer()]).GetAnalyzerDiagnosticsAsync().Result;
    }
}
