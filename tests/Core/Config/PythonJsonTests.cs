using System.Globalization;
using System.Text.Json.Nodes;
using Latent.Core.Config;

namespace Latent.Core.Tests.Config;

public class PythonJsonTests
{
    // Expected strings are Python 3's json.dumps(float) (= repr).
    [Theory]
    [InlineData(1.0, "1.0")]
    [InlineData(100.0, "100.0")]
    [InlineData(0.00085, "0.00085")]
    [InlineData(0.012, "0.012")]
    [InlineData(0.18215, "0.18215")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(1e-05, "1e-05")]
    [InlineData(1.5e-07, "1.5e-07")]
    [InlineData(1e15, "1000000000000000.0")]
    [InlineData(1e16, "1e+16")]
    [InlineData(2.5e20, "2.5e+20")]
    [InlineData(12345678901234567890.0, "1.2345678901234567e+19")]
    [InlineData(123.456, "123.456")]
    [InlineData(0.30000000000000004, "0.30000000000000004")]
    [InlineData(-0.0, "-0.0")]
    [InlineData(0.0, "0.0")]
    [InlineData(-2.5, "-2.5")]
    [InlineData(double.MaxValue, "1.7976931348623157e+308")]
    [InlineData(double.Epsilon, "5e-324")]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.PositiveInfinity, "Infinity")]
    [InlineData(double.NegativeInfinity, "-Infinity")]
    public void FormatFloat_MatchesPythonRepr(double value, string expected) =>
        Assert.Equal(expected, PythonJson.FormatFloat(value));

    [Fact]
    public void FormatFloat_RoundTripsRandomBitPatternsExactly()
    {
        var random = new Random(1234);
        Span<byte> bytes = stackalloc byte[8];
        for (int i = 0; i < 20000; i++)
        {
            random.NextBytes(bytes);
            double value = BitConverter.ToDouble(bytes);
            if (!double.IsFinite(value)) continue;
            string text = PythonJson.FormatFloat(value);
            Assert.True(text.Contains('.') || text.Contains('e'), text);
            Assert.Equal(BitConverter.DoubleToInt64Bits(value),
                BitConverter.DoubleToInt64Bits(double.Parse(text, CultureInfo.InvariantCulture)));
        }
    }

    [Fact]
    public void Parse_LeavesTokenLettersInsideStringsAlone()
    {
        JsonNode node = PythonJson.Parse("{\"s\": \"NaN -Infinity \\\" Infinity\", \"t\": -Infinity}", "mem")!;

        Assert.Equal("NaN -Infinity \" Infinity", node["s"]!.GetValue<string>());
        Assert.Equal(PythonJson.NegativeInfinityMarker, node["t"]!.GetValue<string>());
    }

    [Fact]
    public void Format_MatchesJsonDumpsLayoutAndKeyOrder()
    {
        JsonNode node = JsonNode.Parse("{\"b\": [1, [], {}], \"a\": {\"z\": true, \"y\": null}, \"_c\": 0.5, \"B\": \"x\", \"\u00e9\": false}")!;

        Assert.Equal(
            "{\n  \"B\": \"x\",\n  \"_c\": 0.5,\n  \"a\": {\n    \"y\": null,\n    \"z\": true\n  },\n  \"b\": [\n    1,\n    [],\n    {}\n  ],\n  \"\\u00e9\": false\n}",
            PythonJson.Format(node));
    }

    [Fact]
    public void Format_EscapesStringsAsPythonDoes()
    {
        var node = JsonValue.Create("a/<>&\"\\\n\t\u0001\u007f\u00e9\U0001F600");

        Assert.Equal("\"a/<>&\\\"\\\\\\n\\t\\u0001\\u007f\\u00e9\\ud83d\\ude00\"", PythonJson.Format(node));
        Assert.Equal("\"a/<>&\\\"\\\\\\n\\t\\u0001\u007f\u00e9\U0001F600\"", PythonJson.Format(node, ensureAscii: false));
    }

    [Fact]
    public void Format_SortsKeysByCodePointNotUtf16Unit()
    {
        // U+FF01 sorts before U+1F600 in Python (code points) but after it in UTF-16 units (0xD83D).
        JsonNode node = JsonNode.Parse("{\"\U0001F600\": 1, \"\uFF01\": 2}")!;

        Assert.Equal("{\n  \"\\uff01\": 2,\n  \"\\ud83d\\ude00\": 1\n}", PythonJson.Format(node));
    }

    [Theory]
    [InlineData("special_tokens_map.json")]
    [InlineData("tokenizer_config.json")]
    [InlineData("vocab.json")]
    public void ParityTokenizerFiles_RoundTripByteForByte(string name)
    {
        // transformers writes tokenizer files with ensure_ascii=False.
        string text = File.ReadAllText(Path.Combine(TestEnvironment.Parity, "tokenizer", name));

        Assert.Equal(text, PythonJson.Format(PythonJson.Parse(text, name), ensureAscii: false) + "\n");
    }
}
