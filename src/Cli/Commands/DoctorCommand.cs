using System.CommandLine;
using Latent.Core.Engine;
using Spectre.Console;
using static TorchSharp.torch;

namespace Latent.Cli.Commands;

/// <summary><c>latent doctor</c>: what the engine is, whether it loads here, and how fast it runs.</summary>
public static class DoctorCommand
{
    static readonly Option<bool> Quick = new("--quick")
    {
        Description = "Skip the throughput measurements and the bf16 check (versions, threads and the native fix only).",
    };

    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var command = new Command("doctor", "Print the engine's versions, threads and native-library fix, measure conv2d and matmul GFLOPS in fp32 and bf16, and check bf16 against fp32 op by op.");
        command.Options.Add(Quick);
        command.SetAction(CommandRunner.Wrap(Run));
        return command;
    }

    static int Run(ParseResult parsed)
    {
        EngineInfo info = GlobalOptions.StartEngine(parsed);
        var table = new Table().Border(TableBorder.Rounded).AddColumn("item").AddColumn("value");
        table.AddRow("TorchSharp", Markup.Escape(info.TorchSharpVersion));
        table.AddRow("libtorch", Markup.Escape(info.LibTorchVersion));
        table.AddRow(".NET", Markup.Escape(info.DotNetVersion));
        table.AddRow("OS", Markup.Escape(System.Runtime.InteropServices.RuntimeInformation.OSDescription));
        table.AddRow("cores", Environment.ProcessorCount.ToString());
        table.AddRow("threads", info.Threads.ToString());
        table.AddRow("native fix", Markup.Escape(info.NativeFix.Describe()));
        AnsiConsole.Write(table);

        if (parsed.GetValue(Quick)) return 0;
        var speed = new Table().Border(TableBorder.Rounded)
            .AddColumn("op").AddColumn("dtype").AddColumn(new TableColumn("ms (median)").RightAligned()).AddColumn(new TableColumn("GFLOPS").RightAligned());
        foreach (ScalarType dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            foreach (ThroughputResult r in new[] { Throughput.Conv2d(dtype), Throughput.Matmul(dtype) })
                speed.AddRow(Markup.Escape(r.Op), DtypeName(r.Dtype), r.MedianMs.ToString("F2"), r.Gflops.ToString("F1"));
        }
        AnsiConsole.Write(speed);

        // bf16 is only as good as this CPU's kernels: the same probes that decide whether --dtype bf16 is allowed.
        BFloat16Report bf16 = BFloat16Check.Engine;
        var accuracy = new Table().Border(TableBorder.Rounded)
            .AddColumn("bf16 op vs fp32").AddColumn(new TableColumn("error").RightAligned()).AddColumn(new TableColumn("tolerance").RightAligned()).AddColumn("");
        foreach (BFloat16Deviation op in bf16.Ops)
            accuracy.AddRow(Markup.Escape(op.What), BFloat16Deviation.Percent(op.Error, 2), BFloat16Deviation.Percent(op.Tolerance, 0), op.Ok ? "ok" : "[red]OFF[/]");
        AnsiConsole.Write(accuracy);
        AnsiConsole.MarkupLine(bf16.Accurate ? "bf16: accurate on this CPU (--dtype bf16 allowed)"
            : "[red]bf16: inaccurate on this CPU; --dtype bf16 is refused, use fp32[/]");
        return 0;
    }

    static string DtypeName(ScalarType dtype) => dtype == ScalarType.BFloat16 ? "bf16" : dtype == ScalarType.Float32 ? "fp32" : dtype.ToString();
}
