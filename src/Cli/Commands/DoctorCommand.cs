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
        Description = "Skip the throughput measurements (versions, threads and the native fix only).",
    };

    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var command = new Command("doctor", "Print the engine's versions, threads and native-library fix, and measure conv2d and matmul GFLOPS in fp32 and bf16.");
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
        return 0;
    }

    static string DtypeName(ScalarType dtype) => dtype == ScalarType.BFloat16 ? "bf16" : dtype == ScalarType.Float32 ? "fp32" : dtype.ToString();
}
