using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Latent.Analyzers;

/// <summary>
/// LAT0001: a <c>TorchSharp.Scalar</c> made on the spot for a call (an implicit conversion such as <c>x * 0.5</c>,
/// <c>t.add_(g, alpha: 1 - b)</c>, <c>x.pow(2)</c>, or a <c>ToScalar()</c> passed straight into a call).
/// </summary>
/// <remarks>
/// TorchSharp 0.107 passes only the Scalar's native handle to libtorch; nothing keeps the managed object alive during
/// the native call, so a garbage collection triggered by any other thread can queue it, and the finalizer thread frees
/// the native scalar while libtorch still reads it. Measured (issue 18): silently different AdamW updates, and crashes
/// "Unknown scalar type ... c10/core/Scalar.h". The rule and the fix are written once in
/// <c>src/Core/Engine/Scalars.cs</c>: constants come from <c>Scalars.Of(...)</c> (held for the process), values that
/// change per call are held by <c>using var s = value.ToScalar();</c> across the call.
/// </remarks>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class UnheldScalarAnalyzer : DiagnosticAnalyzer
{
    /// <summary>The rule's id.</summary>
    public const string Id = "LAT0001";

    static readonly DiagnosticDescriptor Rule = new(
        Id,
        "A TorchSharp Scalar that nothing keeps alive",
        "'{0}' becomes a TorchSharp Scalar that nothing keeps alive during the native call; the finalizer may free it " +
        "while libtorch reads it. Use Scalars.Of(...) for a constant, or hold it with 'using var s = value.ToScalar();' " +
        "(src/Core/Engine/Scalars.cs).",
        "Engine",
        DiagnosticSeverity.Warning,   // an error under TreatWarningsAsErrors
        isEnabledByDefault: true);

    /// <summary>LAT0002: the project references a TorchSharp other than the one the method list was made from.</summary>
    public const string VersionId = "LAT0002";

    static readonly DiagnosticDescriptor VersionRule = new(
        VersionId,
        "The LAT0001 method list is for another TorchSharp",
        "TorchSharp {0} is referenced, but src/Analyzers/TorchSharpUnheldScalars.txt lists the methods of TorchSharp {1}; " +
        "regenerate it with src/Analyzers/find-unheld-scalars.py (see its header)",
        "Engine",
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        customTags: WellKnownDiagnosticTags.CompilationEnd);

    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Rule, VersionRule);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            INamedTypeSymbol? scalar = start.Compilation.GetTypeByMetadataName("TorchSharp.Scalar");
            if (scalar is null) return;   // the project does not use TorchSharp
            string referenced = scalar.ContainingAssembly.Identity.Version.ToString(3);
            if (referenced != TorchSharpMethods.Version)
                start.RegisterCompilationEndAction(end => end.ReportDiagnostic(
                    Diagnostic.Create(VersionRule, Location.None, referenced, TorchSharpMethods.Version)));
            start.RegisterOperationAction(c => CheckConversion(c, scalar), OperationKind.Conversion);
            start.RegisterOperationAction(c => CheckInvocation(c, scalar), OperationKind.Invocation);
            start.RegisterOperationAction(c => CheckCall(c, ((IInvocationOperation)c.Operation).TargetMethod), OperationKind.Invocation);
            start.RegisterOperationAction(c => CheckCall(c, ((IBinaryOperation)c.Operation).OperatorMethod), OperationKind.Binary);
            start.RegisterOperationAction(c => CheckCall(c, ((IUnaryOperation)c.Operation).OperatorMethod), OperationKind.Unary);
            start.RegisterOperationAction(c => CheckCall(c, ((ICompoundAssignmentOperation)c.Operation).OperatorMethod), OperationKind.CompoundAssignment);
            start.RegisterOperationAction(c => CheckCall(c, ((IObjectCreationOperation)c.Operation).Constructor), OperationKind.ObjectCreation);
        });
    }

    // A TorchSharp method or operator that makes such a Scalar inside (TorchSharpUnheldScalars.txt), e.g. Tensor + Tensor,
    // which passes alpha = 1 as a fresh Scalar.
    static void CheckCall(OperationAnalysisContext c, IMethodSymbol? method)
    {
        if (method is null || !TorchSharpMethods.MakesUnheldScalar(method)) return;
        c.ReportDiagnostic(Diagnostic.Create(Rule, c.Operation.Syntax.GetLocation(), c.Operation.Syntax.ToString()));
    }

    // Any user-defined conversion to Scalar (implicit or a cast) makes a new native object on the spot.
    static void CheckConversion(OperationAnalysisContext c, INamedTypeSymbol scalar)
    {
        var conversion = (IConversionOperation)c.Operation;
        if (!conversion.Conversion.IsUserDefined) return;
        if (!SymbolEqualityComparer.Default.Equals(conversion.Type, scalar)) return;
        c.ReportDiagnostic(Diagnostic.Create(Rule, conversion.Syntax.GetLocation(), conversion.Operand.Syntax.ToString()));
    }

    // A method that returns a new Scalar (ToScalar(), ToBFloat16Scalar(), ...) whose result goes straight into a call or
    // an operator is just as unheld. Storing it (a using declaration, a field, a return) is the caller's business.
    static void CheckInvocation(OperationAnalysisContext c, INamedTypeSymbol scalar)
    {
        var invocation = (IInvocationOperation)c.Operation;
        if (!SymbolEqualityComparer.Default.Equals(invocation.Type, scalar)) return;
        if (!invocation.TargetMethod.Name.StartsWith("To", StringComparison.Ordinal)) return;
        IOperation? parent = invocation.Parent;
        while (parent is IConversionOperation { Conversion.IsUserDefined: false }) parent = parent.Parent;
        bool unheld = parent is IArgumentOperation or IBinaryOperation or IUnaryOperation or ICompoundAssignmentOperation
            || (parent is IVariableInitializerOperation { Parent: IVariableDeclaratorOperation declarator } && !InUsing(declarator.Syntax));
        if (unheld) c.ReportDiagnostic(Diagnostic.Create(Rule, invocation.Syntax.GetLocation(), invocation.Syntax.ToString()));
    }

    // A plain local (var s = v.ToScalar();) does not hold the Scalar either: the JIT ends its life at its last read,
    // which is before the native call that reads the handle. A using local is read again by its Dispose after the call.
    static bool InUsing(SyntaxNode declarator) =>
        declarator.Parent?.Parent is Microsoft.CodeAnalysis.CSharp.Syntax.LocalDeclarationStatementSyntax { UsingKeyword.RawKind: not 0 }
        || declarator.Parent?.Parent is Microsoft.CodeAnalysis.CSharp.Syntax.UsingStatementSyntax;
}
