#!/usr/bin/env python3
"""Lists the TorchSharp methods that make a Scalar nothing holds while libtorch reads it (rule LAT0001).

Reads the IL of TorchSharp.dll (ilspycmd -il) and writes one method signature a line, in the form the analyzer
builds from a Roslyn symbol: Namespace.Type/Nested::Name(paramtype,paramtype). A method is listed when its body
converts a value to a Scalar (Scalar::op_Implicit, ToScalar(), ...) and never disposes a Scalar, or when it calls or
takes the address of (ldftn) a listed method: the closure over TorchSharp's own call graph.

Regenerate whenever the TorchSharp version changes (the analyzer refuses another version):
  dotnet tool install -g ilspycmd --version 8.2.0.7535      # 9+ needs glibc 2.38; Debian 12 has 2.36
  DOTNET_ROLL_FORWARD=Major ilspycmd -il ~/.nuget/packages/torchsharp/0.107.0/lib/net8.0/TorchSharp.dll > ts.il
  python3 src/Analyzers/find-unheld-scalars.py ts.il 0.107.0 > src/Analyzers/TorchSharpUnheldScalars.txt
The second argument is TorchSharp's assembly version (major.minor.build); the analyzer checks it against the
TorchSharp a project references (rule LAT0002).
"""
import re
import sys

MAKES = re.compile(r"TorchSharp\.Scalar (TorchSharp\.Scalar::op_Implicit|TorchSharp\.ScalarExtensionMethods::To\w*Scalar)\(")
DISPOSES = re.compile(r"TorchSharp\.Scalar::Dispose\(")
CALLEE = re.compile(r"\b(?:call|callvirt|newobj|ldftn|ldvirtftn)\s+(?:instance\s+)?(.*)$")


def norm_type(t):
    t = t.strip()
    t = re.sub(r"\[[^\]]*\]", lambda m: m.group(0) if m.group(0) == "[]" else "", t)   # [System.Runtime] assembly refs
    t = re.sub(r"\b(class|valuetype|modreq\([^)]*\)|modopt\([^)]*\))\s*", "", t)
    return t.replace(" ", "")


def split_params(s):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


def strip_names(params):
    # In a .method header each parameter is "type name" (maybe with [opt] and a default); in a call only the type.
    types = []
    for p in split_params(params):
        p = re.sub(r"\[opt\]\s*", "", p.strip())
        p = re.sub(r"\s*=\s*.*$", "", p)
        parts = p.rsplit(" ", 1)
        types.append(norm_type(parts[0] if len(parts) == 2 and not parts[1].endswith((">", "]", "&", "*")) else p))
    return types


def signature(owner, name, types):
    return f"{owner}::{name.strip(chr(39))}({','.join(types)})"


def callee_signature(text):
    # "<ret> Owner::Name(<types>)" or with generic args "Owner::Name<...>(<types>)"
    m = re.search(r"(\S+)::('[^']+'|[^(<\s]+)(<[^(]*>)?\((.*)\)\s*$", text)
    if not m:
        return None
    owner = norm_type(m.group(1))
    owner = re.sub(r"`\d+<.*>$", lambda x: x.group(0).split("<")[0], owner)
    return signature(owner, m.group(2), [norm_type(t) for t in split_params(m.group(4))])


def main(path, version):
    classes, methods, current, header = [], {}, None, None
    for line in open(path, encoding="utf-8"):
        s = line.strip()
        if s.startswith(".class"):
            name = s.split()[-1]
            classes.append(name if not classes or " nested " not in s else classes[-1] + "/" + name)
            continue
        if s.startswith("} // end of class"):
            classes.pop()
            continue
        if s.startswith(".method"):
            header = s
            continue
        if header is not None:
            header += " " + s
            if "cil managed" in s or s.endswith("managed"):
                m = re.search(r"('[^']+'|[^\s(<]+)(<[^(]*>)?\s*\((.*)\)\s*(cil|runtime)", header)
                current = signature(classes[-1], m.group(1), strip_names(m.group(3))) if m else None
                if current:
                    methods[current] = {"makes": False, "disposes": False, "calls": set()}
                header = None
            continue
        if current is None:
            continue
        if s.startswith("} // end of method"):
            current = None
            continue
        if MAKES.search(s):
            methods[current]["makes"] = True
        if DISPOSES.search(s):
            methods[current]["disposes"] = True
        m = CALLEE.search(s)
        if m:
            sig = callee_signature(m.group(1))
            if sig:
                methods[current]["calls"].add(sig)

    unheld = {k for k, v in methods.items() if v["makes"] and not v["disposes"]}
    changed = True
    while changed:
        changed = False
        for k, v in methods.items():
            if k not in unheld and v["calls"] & unheld:
                unheld.add(k)
                changed = True
    public = sorted(k for k in unheld if "<" not in k.split("::")[0] and not k.split("::")[1].startswith("<"))
    print(f"# TorchSharp methods that make a Scalar nothing holds (rule LAT0001); written by find-unheld-scalars.py")
    print(f"version {version}")
    for k in public:
        print(k)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
