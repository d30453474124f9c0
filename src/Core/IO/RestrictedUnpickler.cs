using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using static TorchSharp.torch;

namespace Latent.Core.IO;

/// <summary>
/// A pickle virtual machine that can only build tensors and plain containers. It interprets the opcodes that
/// <c>torch.save</c> writes (protocols 2 to 5, binary forms) and never calls anything: a GLOBAL or STACK_GLOBAL naming
/// something off <see cref="PickleAllowList"/> throws <see cref="UnsafePickleException"/> on the spot, and REDUCE only
/// applies the few allowed globals, whose effect is implemented here.
/// </summary>
/// <remarks>
/// Hand-written, not TorchSharp.PyBridge 1.4.4 (checked Dec 2026): PyBridge unpickles through Razorvine.Pickle, which
/// turns every global it does not know into a generic <c>ClassDict</c> instead of refusing it (there is no allow-list to
/// set; its constructor registry is process-wide static state), reads each storage into a byte[] and copies it again
/// into a fresh tensor per view (two copies; views of one storage lose their sharing; storage offsets beyond the view's
/// own size break), and drops non-tensor entries without a word. Razorvine runs no Python, but "unknown globals are
/// refused by name" is the property we need, so the interpreter below is ours; it is ~200 lines.
/// Values: None -> null, bool, long, double, string, byte[], <see cref="List{T}"/> (list), object?[] (tuple),
/// <see cref="PickleDict"/> (dict, OrderedDict), <see cref="Tensor"/>, <see cref="PickleGlobal"/>, <see cref="PickleOpaque"/>.
/// </remarks>
internal sealed class RestrictedUnpickler
{
    readonly byte[] data;
    readonly string path;
    readonly Func<object?, object> persistentLoad;
    readonly Func<object?[], Tensor> rebuildTensor;
    readonly List<object?> stack = new();
    readonly Stack<int> marks = new();
    readonly Dictionary<long, object?> memo = new();
    int pos;

    /// <param name="data">The pickle (<c>data.pkl</c>).</param>
    /// <param name="path">The checkpoint's path, for messages.</param>
    /// <param name="persistentLoad">Turns a persistent id (torch: <c>("storage", type, key, location, numel)</c>) into a value.</param>
    /// <param name="rebuildTensor">Builds a tensor from <c>_rebuild_tensor_v2</c>'s arguments.</param>
    public RestrictedUnpickler(byte[] data, string path, Func<object?, object> persistentLoad, Func<object?[], Tensor> rebuildTensor)
    {
        this.data = data;
        this.path = path;
        this.persistentLoad = persistentLoad;
        this.rebuildTensor = rebuildTensor;
    }

    /// <summary>Runs the pickle to its STOP opcode and returns the value left on the stack.</summary>
    public object? Load()
    {
        while (true)
        {
            int at = pos;
            byte op = ReadByte();
            switch (op)
            {
                case 0x80: ReadByte(); break;                                   // PROTO n
                case 0x95: Take(8); break;                                      // FRAME len: framing only
                case (byte)'.': return stack.Count == 1 ? stack[0] : Fail($"STOP with {stack.Count} values on the stack; expected 1");
                case (byte)'(': marks.Push(stack.Count); break;                 // MARK
                case (byte)'0': Pop(); break;                                   // POP
                case (byte)'1': PopMark(); break;                               // POP_MARK
                case (byte)'2': Push(Peek()); break;                            // DUP
                case (byte)'N': Push(null); break;                              // NONE
                case 0x88: Push(true); break;                                   // NEWTRUE
                case 0x89: Push(false); break;                                  // NEWFALSE
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break; // BININT
                case (byte)'K': Push((long)ReadByte()); break;                  // BININT1
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break; // BININT2
                case 0x8a: Push(ReadLong(ReadByte())); break;                   // LONG1
                case 0x8b: Push(ReadLong(ReadLength(4))); break;                // LONG4
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break; // BINFLOAT
                case (byte)'X': Push(ReadString(ReadLength(4))); break;         // BINUNICODE
                case 0x8c: Push(ReadString(ReadByte())); break;                 // SHORT_BINUNICODE
                case 0x8d: Push(ReadString(ReadLength(8))); break;              // BINUNICODE8
                case (byte)'U': Push(ReadLatin1(ReadByte())); break;            // SHORT_BINSTRING
                case (byte)'T': Push(ReadLatin1(ReadLength(4))); break;         // BINSTRING
                case (byte)'C': Push(Take(ReadByte()).ToArray()); break;        // SHORT_BINBYTES
                case (byte)'B': Push(Take(ReadLength(4)).ToArray()); break;     // BINBYTES
                case 0x8e: Push(Take(ReadLength(8)).ToArray()); break;          // BINBYTES8
                case (byte)'}': Push(new PickleDict()); break;                  // EMPTY_DICT
                case (byte)']': Push(new List<object?>()); break;               // EMPTY_LIST
                case (byte)')': Push(Array.Empty<object?>()); break;            // EMPTY_TUPLE
                case (byte)'t': Push(PopMark().ToArray()); break;               // TUPLE
                case 0x85: Push(new[] { Pop() }); break;                        // TUPLE1
                case 0x86: { var b = Pop(); var a = Pop(); Push(new[] { a, b }); break; } // TUPLE2
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new[] { a, b, c }); break; } // TUPLE3
                case (byte)'l': Push(PopMark()); break;                         // LIST
                case (byte)'d': { var items = PopMark(); var d = new PickleDict(); SetItems(d, items); Push(d); break; } // DICT
                case (byte)'a': { var v = Pop(); AsList(Peek()).Add(v); break; } // APPEND
                case (byte)'e': { var items = PopMark(); AsList(Peek()).AddRange(items); break; } // APPENDS
                case (byte)'s': { var v = Pop(); var k = Pop(); SetItems(AsDict(Peek()), [k, v]); break; } // SETITEM
                case (byte)'u': { var items = PopMark(); SetItems(AsDict(Peek()), items); break; } // SETITEMS
                case (byte)'q': memo[ReadByte()] = Peek(); break;               // BINPUT
                case (byte)'r': memo[ReadLength(4)] = Peek(); break;            // LONG_BINPUT
                case 0x94: memo[memo.Count] = Peek(); break;                    // MEMOIZE
                case (byte)'h': Push(Memo(ReadByte())); break;                  // BINGET
                case (byte)'j': Push(Memo(ReadLength(4))); break;               // LONG_BINGET
                case (byte)'c': Push(Global(ReadLine(), ReadLine())); break;    // GLOBAL "module\nname\n"
                case 0x93: { var name = Pop(); var module = Pop(); Push(Global(AsString(module), AsString(name))); break; } // STACK_GLOBAL
                case (byte)'Q': Push(persistentLoad(Pop())); break;             // BINPERSID
                case (byte)'R': { var args = AsTuple(Pop()); Push(Call(Pop(), args)); break; }   // REDUCE
                case 0x81: { var args = AsTuple(Pop()); Push(Call(Pop(), args)); break; }        // NEWOBJ
                case (byte)'b': Build(Pop(), Peek()); break;                    // BUILD
                default:
                    return Fail($"pickle opcode 0x{op:x2} ('{(char)op}') at byte {at} is not supported (torch.save writes binary protocols 2-5)");
            }
        }
    }

    object Global(string module, string name) =>
        PickleAllowList.Find(module, name) ?? throw new UnsafePickleException(path, $"{module}.{name}");

    /// <summary>REDUCE/NEWOBJ: applies an allowed global to its arguments; nothing else is callable.</summary>
    object Call(object? callable, object?[] args)
    {
        if (callable is not PickleGlobal g) return Fail($"the pickle calls a {Describe(callable)}; only allowed globals can be called");
        switch (g.Kind)
        {
            case PickleGlobalKind.RebuildTensor:
                return rebuildTensor(args);
            case PickleGlobalKind.RebuildParameter:
                return args.Length >= 1 && args[0] is Tensor t ? t : Fail($"{g.FullName} expects a tensor first; got {Describe(args.ElementAtOrDefault(0))}");
            case PickleGlobalKind.OrderedDict:
                var dict = new PickleDict();
                if (args.Length == 1 && args[0] is List<object?> pairs)      // OrderedDict([(k, v), ...])
                    foreach (var pair in pairs) SetItems(dict, AsTuple(pair));
                else if (args.Length != 0) return Fail($"{g.FullName} called with {args.Length} arguments; expected none or a list of pairs");
                return dict;
            case PickleGlobalKind.Inert:
                return new PickleOpaque(g.FullName);
            default:
                return Fail($"{g.FullName} is a storage type and cannot be called");
        }
    }

    /// <summary>BUILD sets an object's state: a state dict's <c>_metadata</c>, a callback's fields. Both are dropped.</summary>
    void Build(object? state, object? target)
    {
        if (target is PickleDict or PickleOpaque or Tensor) return;
        Fail($"BUILD on a {Describe(target)}; only dicts and placeholders take state");
    }

    void SetItems(PickleDict dict, IReadOnlyList<object?> items)
    {
        if (items.Count % 2 != 0) Fail($"SETITEMS with an odd number ({items.Count}) of keys and values");
        for (int i = 0; i < items.Count; i += 2)
            dict[items[i] ?? Fail("a dict key is None")] = items[i + 1];
    }

    object? Memo(long key) => memo.TryGetValue(key, out var v) ? v : Fail($"memo key {key} read before it was written");

    List<object?> PopMark()
    {
        if (marks.Count == 0) Fail("an opcode needs a MARK and there is none");
        int start = marks.Pop();
        var items = stack.GetRange(start, stack.Count - start);
        stack.RemoveRange(start, stack.Count - start);
        return items;
    }

    void Push(object? v) => stack.Add(v);

    object? Peek() => stack.Count > (marks.Count > 0 ? marks.Peek() : 0) ? stack[^1] : Fail("stack underflow");

    object? Pop()
    {
        var v = Peek();
        stack.RemoveAt(stack.Count - 1);
        return v;
    }

    byte ReadByte() => pos < data.Length ? data[pos++] : (byte)Fail("the pickle ends before STOP (truncated)");

    ReadOnlySpan<byte> Take(long n)
    {
        if (n < 0 || n > data.Length - pos) Fail($"a {n}-byte field at byte {pos} runs past the pickle's end ({data.Length} bytes)");
        var span = data.AsSpan(pos, (int)n);
        pos += (int)n;
        return span;
    }

    long ReadLength(int bytes) => bytes == 4
        ? BinaryPrimitives.ReadUInt32LittleEndian(Take(4))
        : (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(Take(8)), long.MaxValue);

    long ReadLong(long n)
    {
        if (n > 8) Fail($"an integer of {n} bytes; at most 8 fit a tensor's size or offset");
        var value = new BigInteger(Take(n), isUnsigned: false, isBigEndian: false);
        return (long)value;
    }

    string ReadString(long n) => Encoding.UTF8.GetString(Take(n));

    string ReadLatin1(long n) => Encoding.Latin1.GetString(Take(n));

    string ReadLine()
    {
        int end = Array.IndexOf(data, (byte)'\n', pos);
        if (end < 0) Fail("GLOBAL without its line end");
        string s = Encoding.UTF8.GetString(data, pos, end - pos);
        pos = end + 1;
        return s;
    }

    List<object?> AsList(object? v) => v as List<object?> ?? throw Error($"APPEND to a {Describe(v)}; expected a list");

    PickleDict AsDict(object? v) => v as PickleDict ?? throw Error($"SETITEM on a {Describe(v)}; expected a dict");

    object?[] AsTuple(object? v) => v as object?[] ?? throw Error($"expected a tuple; got a {Describe(v)}");

    string AsString(object? v) => v as string ?? throw Error($"STACK_GLOBAL expects strings; got a {Describe(v)}");

    internal static string Describe(object? v) => v switch
    {
        null => "None",
        PickleGlobal g => $"global {g.FullName}",
        PickleOpaque o => $"{o.GlobalName} placeholder",
        object?[] => "tuple",
        List<object?> => "list",
        PickleDict => "dict",
        _ => v.GetType().Name,
    };

    PickleFormatException Error(string detail) => new(path, detail);

    object Fail(string detail) => throw Error(detail);
}

/// <summary>A pickled dict or OrderedDict, in insertion order (keys: strings, integers, ...).</summary>
internal sealed class PickleDict : Dictionary<object, object?>
{
}
