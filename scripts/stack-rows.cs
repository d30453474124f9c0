#:project ../src/Core/Latent.Core.csproj
// Stacks PNG sheets of one width top to bottom into one PNG, or with --across sheets of one height left to right, e.g.
// one `txt2img --n 4 --grid` sheet per sampler for the model card's samplers figure (scripts/model-card.sh):
//
//   dotnet run scripts/stack-rows.cs -- [--across] OUT.png SHEET1.png SHEET2.png ...
//
// A hand-written script rather than a CLI command: it lays out our own figures, not a user's images.
using Latent.Core.Imaging;
using static TorchSharp.torch;

bool across = args.Length > 0 && args[0] == "--across";
string[] files = across ? args[1..] : args;
if (files.Length < 2)
{
    Console.Error.WriteLine("usage: dotnet run scripts/stack-rows.cs -- [--across] OUT.png SHEET1.png [SHEET2.png ...]");
    return 2;
}
var sheets = files.Skip(1).Select(path => ImageIO.Load(path)).ToList();                // each [3, H_i, W_i] in [-1, 1]
int shared = across ? 1 : 2;                                                             // the dimension all must share
for (int i = 0; i < sheets.Count; i++)
    if (sheets[i].shape[shared] != sheets[0].shape[shared])
        throw new ArgumentException($"'{files[i + 1]}' is {sheets[i].shape[shared]} px {(across ? "high" : "wide")}; expected {sheets[0].shape[shared]} px like '{files[1]}'");
using var sheet = cat(sheets, across ? 2 : 1);                                           // [3, H, sum W_i] or [3, sum H_i, W]
ImageIO.SavePng(sheet, files[0]);
Console.WriteLine($"wrote {files[0]} ({sheets.Count} sheets {(across ? "across" : "down")}, {sheet.shape[2]}x{sheet.shape[1]})");
return 0;
