namespace Latent.TextEncoder.Tokenization;

/// <summary>
/// GPT-2's and CLIP's byte-level alphabet (<c>bytes_to_unicode</c> in transformers): every UTF-8 byte maps to one
/// printable character, so BPE works on strings without spaces or control characters and never meets an unknown symbol.
/// </summary>
/// <remarks>
/// Written by hand: Microsoft.ML.Tokenizers applies this mapping inside its BPE (<c>ByteLevel = true</c>) but does
/// not expose it, and we need it to decode ids to text and to lay out a trained vocabulary in CLIP's order.
/// The printable bytes <c>!</c>..<c>~</c>, <c>¡</c>..<c>¬</c>, <c>®</c>..<c>ÿ</c> map to themselves; the other 68 bytes,
/// in ascending order, map to U+0100, U+0101, ... CLIP's vocabulary lists the characters in that order: printable
/// bytes first, then the rest.
/// </remarks>
internal static class ByteLevelAlphabet
{
    /// <summary>The character for each byte value: <c>ByteToChar[b]</c>.</summary>
    public static readonly char[] ByteToChar;

    /// <summary>The byte value of each alphabet character.</summary>
    public static readonly IReadOnlyDictionary<char, byte> CharToByte;

    /// <summary>The 256 characters in CLIP's vocabulary order (ids 0..255; their <c>&lt;/w&gt;</c> forms take 256..511).</summary>
    public static readonly IReadOnlyList<char> VocabularyOrder;

    static ByteLevelAlphabet()
    {
        var bytes = new List<int>();
        for (int b = '!'; b <= '~'; b++) bytes.Add(b);
        for (int b = 0xA1; b <= 0xAC; b++) bytes.Add(b);
        for (int b = 0xAE; b <= 0xFF; b++) bytes.Add(b);
        var chars = bytes.Select(b => (char)b).ToList();
        int next = 0;
        for (int b = 0; b < 256; b++)
        {
            if (bytes.Contains(b)) continue;
            bytes.Add(b);
            chars.Add((char)(256 + next++));
        }

        ByteToChar = new char[256];
        var toByte = new Dictionary<char, byte>(256);
        for (int i = 0; i < 256; i++)
        {
            ByteToChar[bytes[i]] = chars[i];
            toByte[chars[i]] = (byte)bytes[i];
        }
        CharToByte = toByte;
        VocabularyOrder = chars;
    }

    /// <summary>The UTF-8 bytes of <paramref name="text"/>, each replaced by its alphabet character.</summary>
    public static string Encode(string text)
    {
        byte[] utf8 = System.Text.Encoding.UTF8.GetBytes(text);
        var chars = new char[utf8.Length];
        for (int i = 0; i < utf8.Length; i++) chars[i] = ByteToChar[utf8[i]];
        return new string(chars);
    }
}
