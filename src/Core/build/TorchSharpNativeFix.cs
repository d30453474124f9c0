// The native-library fix for TorchSharp 0.107 on Debian 12, shared by two compilations:
//  * MSBuild compiles this file as an inline task (RoslynCodeTaskFactory, netstandard2.0 API only) and runs
//    `LatentPatchTorchSharpNative` inside every build, test, run and publish (see Latent.Core.targets);
//  * src/Core compiles it with LATENT_CORE defined (the task class is left out) so that `latent doctor` and the
//    engine's start-up diagnosis read the same ELF facts at run time.
//
// What it works around: TorchSharp 0.107.0's libLibTorchSharp.so was linked with GCC 15 and asks for
// GLIBCXX_3.4.32, which Debian 12's libstdc++ (3.4.30) lacks. The only symbol bound to that version is
// _ZSt21ios_base_library_initv, a marker GCC 13+ references from every file that includes <iostream> and that
// nothing calls. Setting VER_FLG_WEAK on that one Vernaux entry makes glibc treat the missing version as
// non-fatal: one byte changes. When a TorchSharp release no longer needs GLIBCXX_3.4.32 the fix finds nothing
// to do and this file can go.
//
// Hand-written because no served package parses ELF version sections, and the MSBuild side may not take
// package dependencies.
#nullable enable
using System;
using System.Collections.Generic;
using System.IO;

namespace Latent.Core.Engine
{
    /// <summary>A version that an ELF shared object needs from one of its dependencies (a Vernaux entry).</summary>
    public sealed class ElfNeededVersion
    {
        /// <summary>The dependency's file name, e.g. <c>libstdc++.so.6</c>.</summary>
        public string File = "";
        /// <summary>The version name, e.g. <c>GLIBCXX_3.4.32</c>.</summary>
        public string Name = "";
        /// <summary>Whether VER_FLG_WEAK is set (a missing version is then not fatal).</summary>
        public bool Weak;
        /// <summary>Byte offset of the entry's 2-byte <c>vna_flags</c> field in the file.</summary>
        public long FlagsOffset;
        /// <summary>The version index that <c>.gnu.version</c> uses for symbols bound to this version.</summary>
        public int Index;
        /// <summary>Names of the dynamic symbols bound to this version.</summary>
        public List<string> Symbols = new List<string>();
    }

    /// <summary>Reads and patches the GNU symbol-versioning sections of a little-endian ELF64 file.</summary>
    public static class ElfVersions
    {
        /// <summary>The version TorchSharp 0.107.0 needs and Debian 12 lacks.</summary>
        public const string TorchSharpVersion = "GLIBCXX_3.4.32";

        /// <summary>The only symbol allowed to be bound to <see cref="TorchSharpVersion"/> for the patch to be safe.</summary>
        public const string MarkerSymbol = "_ZSt21ios_base_library_initv";

        const uint ShtDynsym = 11, ShtVerdef = 0x6ffffffd, ShtVerneed = 0x6ffffffe, ShtVersym = 0x6fffffff;
        const ushort VerFlgWeak = 0x2;

        struct Section { public uint Type; public long Offset; public long Size; public int Link; public int Info; }

        /// <summary>Lists every version the file needs from its dependencies, with the symbols bound to each.</summary>
        /// <exception cref="InvalidDataException">The file is not a little-endian ELF64 object or is truncated.</exception>
        public static List<ElfNeededVersion> ReadNeeded(byte[] elf)
        {
            Section[] sections = ReadSections(elf);
            var result = new List<ElfNeededVersion>();
            for (int s = 0; s < sections.Length; s++)
            {
                if (sections[s].Type != ShtVerneed) continue;
                Section strtab = sections[sections[s].Link];
                long entry = sections[s].Offset;
                for (int i = 0; i < sections[s].Info; i++)
                {
                    string file = ReadString(elf, strtab.Offset + U32(elf, entry + 4));
                    long aux = entry + U32(elf, entry + 8);
                    int count = U16(elf, entry + 2);
                    for (int a = 0; a < count; a++)
                    {
                        result.Add(new ElfNeededVersion
                        {
                            File = file,
                            Name = ReadString(elf, strtab.Offset + U32(elf, aux + 8)),
                            Weak = (U16(elf, aux + 4) & VerFlgWeak) != 0,
                            FlagsOffset = aux + 4,
                            Index = U16(elf, aux + 6) & 0x7fff,
                        });
                        aux += U32(elf, aux + 12);
                    }
                    long next = U32(elf, entry + 12);
                    if (next == 0) break;
                    entry += next;
                }
            }
            AttachSymbols(elf, sections, result);
            return result;
        }

        /// <summary>Lists the version names a library defines (its Verdef entries), e.g. every GLIBCXX_* of libstdc++.</summary>
        public static HashSet<string> ReadDefined(byte[] elf)
        {
            Section[] sections = ReadSections(elf);
            var names = new HashSet<string>(StringComparer.Ordinal);
            for (int s = 0; s < sections.Length; s++)
            {
                if (sections[s].Type != ShtVerdef) continue;
                Section strtab = sections[sections[s].Link];
                long entry = sections[s].Offset;
                for (int i = 0; i < sections[s].Info; i++)
                {
                    long aux = entry + U32(elf, entry + 12);
                    names.Add(ReadString(elf, strtab.Offset + U32(elf, aux)));
                    long next = U32(elf, entry + 16);
                    if (next == 0) break;
                    entry += next;
                }
            }
            return names;
        }

        /// <summary>
        /// Marks <paramref name="version"/> weak in place when only <see cref="MarkerSymbol"/> is bound to it.
        /// Returns null on success or when there is nothing to do (<paramref name="changed"/> tells which), and
        /// otherwise the reason the file was left alone.
        /// </summary>
        public static string? MakeWeak(byte[] elf, string version, out bool changed)
        {
            changed = false;
            foreach (ElfNeededVersion needed in ReadNeeded(elf))
            {
                if (needed.Name != version || needed.Weak) continue;
                foreach (string symbol in needed.Symbols)
                    if (symbol != MarkerSymbol)
                        return "symbol '" + symbol + "' really uses " + version + "; marking it weak would hide a real dependency";
                elf[needed.FlagsOffset] = (byte)(elf[needed.FlagsOffset] | VerFlgWeak);
                changed = true;
            }
            return null;
        }

        /// <summary>
        /// Finds the system's libstdc++.so.6 (the directories the dynamic loader searches by default on Debian,
        /// Ubuntu and Fedora), or null when none is found.
        /// </summary>
        public static string? FindSystemLibStdCxx()
        {
            string[] dirs =
            {
                "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib", "/lib",
                "/usr/lib/aarch64-linux-gnu",
            };
            foreach (string dir in dirs)
            {
                string path = Path.Combine(dir, "libstdc++.so.6");
                if (System.IO.File.Exists(path)) return path;
            }
            return null;
        }

        static void AttachSymbols(byte[] elf, Section[] sections, List<ElfNeededVersion> needed)
        {
            int versym = Array.FindIndex(sections, s => s.Type == ShtVersym);
            int dynsym = Array.FindIndex(sections, s => s.Type == ShtDynsym);
            if (versym < 0 || dynsym < 0 || needed.Count == 0) return;
            Section strtab = sections[sections[dynsym].Link];
            long symbolCount = sections[dynsym].Size / 24;
            for (long i = 0; i < symbolCount; i++)
            {
                int index = U16(elf, sections[versym].Offset + 2 * i) & 0x7fff;
                if (index < 2) continue;
                foreach (ElfNeededVersion v in needed)
                    if (v.Index == index)
                        v.Symbols.Add(ReadString(elf, strtab.Offset + U32(elf, sections[dynsym].Offset + 24 * i)));
            }
        }

        static Section[] ReadSections(byte[] elf)
        {
            if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
                throw new InvalidDataException("not an ELF file");
            if (elf[4] != 2 || elf[5] != 1)
                throw new InvalidDataException("not a little-endian 64-bit ELF file");
            long shoff = (long)U64(elf, 0x28);
            int shentsize = U16(elf, 0x3A), shnum = U16(elf, 0x3C);
            if (shentsize < 64 || shoff <= 0 || shoff + (long)shnum * shentsize > elf.Length)
                throw new InvalidDataException("section header table lies outside the file");
            var sections = new Section[shnum];
            for (int i = 0; i < shnum; i++)
            {
                long h = shoff + (long)i * shentsize;
                sections[i] = new Section
                {
                    Type = U32(elf, h + 4),
                    Offset = (long)U64(elf, h + 24),
                    Size = (long)U64(elf, h + 32),
                    Link = (int)U32(elf, h + 40),
                    Info = (int)U32(elf, h + 44),
                };
                if (sections[i].Type != 8 /* SHT_NOBITS */ && sections[i].Offset + sections[i].Size > elf.Length)
                    throw new InvalidDataException("section " + i + " lies outside the file");
                if (sections[i].Link >= shnum)
                    throw new InvalidDataException("section " + i + " links to a missing section");
            }
            return sections;
        }

        static void Check(byte[] elf, long offset, int size)
        {
            if (offset < 0 || offset + size > elf.Length)
                throw new InvalidDataException("ELF structure at offset " + offset + " lies outside the file");
        }

        static int U16(byte[] b, long o) { Check(b, o, 2); return b[o] | (b[o + 1] << 8); }

        static uint U32(byte[] b, long o) { Check(b, o, 4); return (uint)(b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)); }

        static ulong U64(byte[] b, long o) => U32(b, o) | ((ulong)U32(b, o + 4) << 32);

        static string ReadString(byte[] b, long o)
        {
            long end = o;
            while (end < b.Length && b[end] != 0) end++;
            Check(b, o, (int)(end - o));
            return System.Text.Encoding.ASCII.GetString(b, (int)o, (int)(end - o));
        }
    }

#if !LATENT_CORE
    /// <summary>
    /// MSBuild task: writes <see cref="OutputFile"/>, a copy of <see cref="SourceFile"/> whose GLIBCXX_3.4.32 need is
    /// marked weak when that is needed and safe, and an exact copy otherwise (so the target's outputs always exist and
    /// incremental builds skip it).
    /// </summary>
    public sealed class LatentPatchTorchSharpNative : Microsoft.Build.Utilities.Task
    {
        /// <summary>libLibTorchSharp.so as restored (never written: it may be a hard link into the NuGet cache).</summary>
        [Microsoft.Build.Framework.Required] public string SourceFile { get; set; } = "";

        /// <summary>Where the copy goes (under obj/).</summary>
        [Microsoft.Build.Framework.Required] public string OutputFile { get; set; } = "";

        /// <summary><c>auto</c>: patch unless this machine's libstdc++ has the version; <c>always</c>: patch anyway (for deploying to older machines).</summary>
        public string Mode { get; set; } = "auto";

        /// <summary>What was done: <c>patched</c>, <c>not-needed</c> or <c>refused</c>.</summary>
        [Microsoft.Build.Framework.Output] public string Result { get; set; } = "";

        /// <inheritdoc />
        public override bool Execute()
        {
            byte[] elf = System.IO.File.ReadAllBytes(SourceFile);
            Result = "not-needed";
            string? host = ElfVersions.FindSystemLibStdCxx();
            bool hostHasIt = Mode != "always" && host != null
                && ElfVersions.ReadDefined(System.IO.File.ReadAllBytes(host)).Contains(ElfVersions.TorchSharpVersion);
            if (hostHasIt)
            {
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Low,
                    "Latent: " + host + " provides " + ElfVersions.TorchSharpVersion + "; libLibTorchSharp.so is used as shipped.");
            }
            else
            {
                string? refusal = ElfVersions.MakeWeak(elf, ElfVersions.TorchSharpVersion, out bool changed);
                if (refusal != null)
                {
                    Result = "refused";
                    Log.LogWarning("Latent: libLibTorchSharp.so left as shipped: " + refusal + ". It may not load where libstdc++ lacks "
                        + ElfVersions.TorchSharpVersion + " (Debian 12, Ubuntu 22.04).");
                }
                else if (changed)
                {
                    Result = "patched";
                    Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal,
                        "Latent: marked " + ElfVersions.TorchSharpVersion + " weak in " + OutputFile);
                }
            }
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(OutputFile))!);
            string temp = OutputFile + ".tmp";
            System.IO.File.WriteAllBytes(temp, Result == "patched" ? elf : System.IO.File.ReadAllBytes(SourceFile));
            if (System.IO.File.Exists(OutputFile)) System.IO.File.Replace(temp, OutputFile, null);
            else System.IO.File.Move(temp, OutputFile);
            return !Log.HasLoggedErrors;
        }
    }
#endif
}
