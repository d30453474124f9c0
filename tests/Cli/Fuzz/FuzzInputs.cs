using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;

namespace Latent.Cli.Tests;

/// <summary>
/// Seeded mutations of the inputs a user hands <c>latent</c>: safetensors headers, config and tokenizer files, PNGs and
/// command-line values. Each mutator changes one thing the way a damaged download, a typo or a hostile file would, and
/// says what it did (the fuzz report lists it for a failing case).
/// </summary>
internal static class FuzzInputs
{
    /// <summary>JSON values that break a config key's type or range.</summary>
    static readonly string[] HostileJsonValues =
    [
        "0", "-1", "1048576", "2147483647", "-2147483648", "9223372036854775807", "1e308", "-1e308", "1e-320", "NaN", "Infinity",
        "0.5", "null", "true", "\"\"", "\"x\"", "\"\\ud800\"", "\"\\u0000\"", "[]", "[1048576, 1048576]", "[-1]", "{}", "[[1]]",
        "\"" + new string('a', 5000) + "\"",
    ];

    /// <summary>A 57-byte PNG whose IHDR declares <paramref name="width"/> x <paramref name="height"/> RGB pixels.</summary>
    public static byte[] DeclaringPng(int width, int height)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;  // bit depth
        ihdr[9] = 2;  // RGB
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, .. Chunk("IHDR", ihdr),
            .. Chunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]), .. Chunk("IEND", [])];
    }

    /// <summary>A safetensors file with its JSON header changed: a byte flipped, the length field rewritten, a tensor's
    /// dtype, shape or offsets replaced, a key added, or the file cut short.</summary>
    public static (byte[] Bytes, string What) SafeTensors(byte[] file, Random rng)
    {
        long length = BinaryPrimitives.ReadInt64LittleEndian(file);
        byte[] data = file[(8 + (int)length)..];
        string header = Encoding.UTF8.GetString(file, 8, (int)length);
        switch (rng.Next(6))
        {
            case 0:
            {
                byte[] copy = (byte[])file.Clone();
                int at = 8 + rng.Next((int)length);
                copy[at] = (byte)rng.Next(256);
                return (copy, $"header byte {at} set to 0x{copy[at]:x2}");
            }
            case 1:
            {
                long[] lengths = [0, 1, length - 1, length + 1, length + 8, file.Length, long.MaxValue, -1, 1L << 40];
                long value = lengths[rng.Next(lengths.Length)];
                byte[] copy = (byte[])file.Clone();
                BinaryPrimitives.WriteInt64LittleEndian(copy, value);
                return (copy, $"header length field set to {value}");
            }
            case 2:
            {
                int cut = rng.Next(file.Length);
                return (file[..cut], $"cut to {cut} of {file.Length} bytes");
            }
            default:
            {
                JsonObject json = JsonNode.Parse(header)!.AsObject();
                var names = json.Select(p => p.Key).Where(k => k != "__metadata__").ToList();
                string name = names[rng.Next(names.Count)];
                JsonObject tensor = json[name]!.AsObject();
                string what;
                switch (rng.Next(6))
                {
                    case 0:
                        string[] dtypes = ["F64", "I8", "BOOL", "F8_E4M3", "X", "", "f32", "U64"];
                        tensor["dtype"] = dtypes[rng.Next(dtypes.Length)];
                        what = $"'{name}' dtype {tensor["dtype"]}";
                        break;
                    case 1:
                        tensor["shape"] = JsonNode.Parse(HostileShapes[rng.Next(HostileShapes.Length)]);
                        what = $"'{name}' shape {tensor["shape"]?.ToJsonString() ?? "null"}";
                        break;
                    case 2:
                        var offsets = tensor["data_offsets"]!.AsArray().Select(n => n!.GetValue<long>()).ToArray();
                        long[][] choices = [[offsets[1], offsets[0]], [0, offsets[1]], [offsets[0], data.Length + 4], [offsets[0] + 1, offsets[1] + 1], [-1, offsets[1]], [offsets[0], long.MaxValue]];
                        long[] chosen = choices[rng.Next(choices.Length)];
                        tensor["data_offsets"] = new JsonArray(chosen[0], chosen[1]);
                        what = $"'{name}' data_offsets [{chosen[0]}, {chosen[1]}]";
                        break;
                    case 3:
                        json["__fuzz_surrogate__"] = tensor.DeepClone();
                        what = "a key with a lone surrogate escape";
                        break;
                    case 4:
                        json["__metadata__"] = JsonNode.Parse(new[] { "{\"format\": 1}", "[]", "{\"a\": {\"b\": 1}}", "\"pt\"" }[rng.Next(4)]);
                        what = $"__metadata__ {json["__metadata__"]!.ToJsonString()}";
                        break;
                    default:
                        json.Remove(name);
                        what = $"'{name}' removed";
                        break;
                }
                byte[] newHeader = Encoding.UTF8.GetBytes(json.ToJsonString().Replace("__fuzz_surrogate__", "\\ud800bad", StringComparison.Ordinal));
                var bytes = new byte[8 + newHeader.Length + data.Length];
                BinaryPrimitives.WriteInt64LittleEndian(bytes, newHeader.Length);
                newHeader.CopyTo(bytes, 8);
                data.CopyTo(bytes, 8 + newHeader.Length);
                return (bytes, what);
            }
        }
    }

    static readonly string[] HostileShapes = ["[]", "[-1]", "[1048576, 1048576]", "[9223372036854775807]", "[0]", "[1, 2, 3, 4, 5, 6, 7, 8, 9]", "[\"a\"]", "null", "[1.5]"];

    /// <summary>A JSON config with one change: a key set to a hostile value, a key removed or added, the text cut or a byte flipped.</summary>
    public static (string Text, string What) Json(string text, Random rng)
    {
        switch (rng.Next(5))
        {
            case 0:
            {
                int cut = rng.Next(text.Length);
                return (text[..cut], $"cut to {cut} characters");
            }
            case 1:
            {
                char[] chars = text.ToCharArray();
                int at = rng.Next(chars.Length);
                const string replacements = "{}[]\",:0-9e\\ \u0000\ud800";
                chars[at] = replacements[rng.Next(replacements.Length)];
                return (new string(chars), $"character {at} set to U+{(int)chars[at]:X4}");
            }
            default:
            {
                JsonNode root = JsonNode.Parse(text)!;
                if (root is not JsonObject json || json.Count == 0) return ("[]", "the top level replaced by []");
                var keys = json.Select(p => p.Key).ToList();
                string key = keys[rng.Next(keys.Count)];
                if (rng.Next(6) == 0)
                {
                    json.Remove(key);
                    return (json.ToJsonString(), $"\"{key}\" removed");
                }
                // The value goes in as raw text (NaN and Infinity as Python writes them, escapes as written).
                string value = HostileJsonValues[rng.Next(HostileJsonValues.Length)];
                json[key] = "__fuzz_value__";
                string written = json.ToJsonString().Replace("\"__fuzz_value__\"", value, StringComparison.Ordinal);
                return (written, $"\"{key}\" set to {(value.Length > 40 ? value[..40] + "..." : value)}");
            }
        }
    }

    /// <summary>merges.txt with one change: a line repeated, garbled, removed or made of unknown symbols, or the file emptied.</summary>
    public static (string Text, string What) Merges(string text, Random rng)
    {
        var lines = text.Split('\n').ToList();
        int at = 1 + rng.Next(Math.Max(lines.Count - 2, 1));
        switch (rng.Next(6))
        {
            case 0: lines.Add(lines[at]); return (string.Join('\n', lines), $"line {at + 1} repeated at the end");
            case 1: lines[at] = "garbage"; return (string.Join('\n', lines), $"line {at + 1} set to one symbol");
            case 2: lines[at] = "a b c"; return (string.Join('\n', lines), $"line {at + 1} set to three symbols");
            case 3: lines[at] = "\ud800 \u0000"; return (string.Join('\n', lines), $"line {at + 1} set to a lone surrogate and NUL");
            case 4: lines[at] = "zzqq xxww"; return (string.Join('\n', lines), $"line {at + 1} set to unknown symbols");
            default: return ("", "emptied");
        }
    }

    /// <summary>A PNG with one change: a declared size rewritten (with a valid CRC), a byte flipped, the file cut, a chunk length inflated.</summary>
    public static (byte[] Bytes, string What) Png(byte[] png, Random rng)
    {
        byte[] copy = (byte[])png.Clone();
        switch (rng.Next(4))
        {
            case 0:
            {
                int[] sides = [0, 1, 65535, 30000, int.MaxValue, -1, 8193, 100000];
                int w = sides[rng.Next(sides.Length)], h = sides[rng.Next(sides.Length)];
                BinaryPrimitives.WriteInt32BigEndian(copy.AsSpan(16), w);
                BinaryPrimitives.WriteInt32BigEndian(copy.AsSpan(20), h);
                BinaryPrimitives.WriteUInt32BigEndian(copy.AsSpan(29), Crc(copy.AsSpan(12, 17)));
                return (copy, $"IHDR declares {w}x{h}");
            }
            case 1:
            {
                int at = rng.Next(copy.Length);
                copy[at] ^= (byte)(1 + rng.Next(255));
                return (copy, $"byte {at} flipped");
            }
            case 2:
            {
                int cut = rng.Next(copy.Length);
                return (copy[..cut], $"cut to {cut} of {png.Length} bytes");
            }
            default:
            {
                BinaryPrimitives.WriteUInt32BigEndian(copy.AsSpan(33), 0x7FFFFFF0); // the chunk after IHDR
                return (copy, "second chunk's length set to 2^31 - 16");
            }
        }
    }

    /// <summary>One option with a value out of its range, of the wrong type, or hostile in another way.</summary>
    public static (string[] Args, string What) Option(Random rng, string tempDir)
    {
        (string Name, string[] Values)[] options =
        [
            ("--size", ["0", "-64", "65536x65536", "2147483647", "32x", "x32", "\uFF13\uFF12", " 32", "33", "32x32x32", "1e3", "", "32x0"]),
            ("--steps", ["0", "-5", "1001", "1000", "abc", "", "2147483648"]),
            ("--n", ["0", "-1", "65", "many", "2147483647"]),
            ("--cfg", ["NaN", "-1", "Infinity", "1e308", "-0", "x"]),
            ("--seed", ["-2", "-9223372036854775808", "18446744073709551616", "x"]),
            ("--threads", ["0", "-1", "100000", "many", "2147483647"]),
            ("--scheduler", ["junk", "", "DDIM ", "euler-a\u0000"]),
            ("--eta", ["2", "-1", "NaN"]),
            ("--dtype", ["fp16", "int8", ""]),
            ("--runtime", ["cuda", "", "onnx"]),
            ("--out", ["x.jpg", Path.Combine(tempDir, "a\u0000b"), Path.Combine(tempDir, "sub", "x.webp")]),
            ("--lora", ["missing.safetensors", ":", "x:NaN", Path.Combine(TestEnvironment.Parity, "unet", "diffusion_pytorch_model.safetensors") + ":1", Path.Combine(TestEnvironment.Parity, "unet", "config.json")]),
            ("--config", ["/nonexistent", TestEnvironment.Parity]),
            ("--model", ["/nonexistent", "/dev/null", Path.Combine(TestEnvironment.Parity, "unet", "config.json"), Path.Combine(TestEnvironment.Parity, "unet")]),
        ];
        var (name, values) = options[rng.Next(options.Length)];
        string value = values[rng.Next(values.Length)];
        return ([name, value], $"{name} '{value}'");
    }

    // CRC-32 of PNG chunks (ISO 3309), hand-written: eight lines, no package for one checksum.
    static uint Crc(ReadOnlySpan<byte> bytes)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return c ^ 0xFFFFFFFF;
    }

    static byte[] Chunk(string type, byte[] data)
    {
        byte[] typed = [.. Encoding.ASCII.GetBytes(type), .. data];
        var chunk = new byte[12 + data.Length];
        BinaryPrimitives.WriteInt32BigEndian(chunk, data.Length);
        typed.CopyTo(chunk, 4);
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), Crc(typed));
        return chunk;
    }
}
