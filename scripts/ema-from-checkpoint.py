#!/usr/bin/env python3
"""Writes a training checkpoint's EMA weights (its ema.* tensors) as a diffusers weights file, so that an unfinished
run can be sampled and judged without stopping it (the trainer exports only at the end).
  scripts/ema-from-checkpoint.py runs/unet/checkpoints/step-00001000.safetensors OUT/diffusion_pytorch_model.safetensors
Stdlib only: a safetensors file is an 8-byte little-endian header length, a JSON header and the raw tensor bytes, so
copying a subset of tensors is a header rewrite and byte copies (no dtype conversion)."""
import json, os, struct, sys

src, dst = sys.argv[1], sys.argv[2]
with open(src, "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
    base = 8 + n
    out_header, chunks, offset = {}, [], 0
    for key, info in sorted(header.items()):
        if not key.startswith("ema."):
            continue
        start, end = info["data_offsets"]
        f.seek(base + start)
        data = f.read(end - start)
        out_header[key[4:]] = {"dtype": info["dtype"], "shape": info["shape"], "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
if not out_header:
    sys.exit(f"{src}: no ema.* tensors (was the run trained with an EMA?)")
out_header["__metadata__"] = {"format": "pt", "source": os.path.basename(src)}
blob = json.dumps(out_header, separators=(",", ":")).encode()
blob += b" " * (-len(blob) % 8)
tmp = dst + ".tmp"
with open(tmp, "wb") as f:
    f.write(struct.pack("<Q", len(blob)) + blob)
    for c in chunks:
        f.write(c)
os.replace(tmp, dst)
print(f"wrote {len(out_header) - 1} EMA tensors to {dst}")
