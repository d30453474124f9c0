#!/usr/bin/env python3
"""Rewrites a safetensors file with every F32 tensor as F16 (other dtypes and __metadata__ kept).

Hand-written because Debian 12 packages no `safetensors` module; the format is an 8-byte little-endian header length,
a JSON header ({name: {dtype, shape, data_offsets}}), then the tensor bytes. Used for weights/emoji-64/image_encoder,
which `latent train text-encoder` exports in float32.
    python3 scripts/safetensors-half.py IN OUT
"""
import json, os, struct, sys
import numpy as np

src, dst = sys.argv[1], sys.argv[2]
with open(src, "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
    data = f.read()
meta = header.pop("__metadata__", None)
out_header, blobs, offset = {}, [], 0
for name in sorted(header, key=lambda k: header[k]["data_offsets"][0]):
    info = header[name]
    start, end = info["data_offsets"]
    raw = data[start:end]
    dtype = info["dtype"]
    if dtype == "F32":
        raw = np.frombuffer(raw, dtype="<f4").astype("<f2").tobytes()
        dtype = "F16"
    out_header[name] = {"dtype": dtype, "shape": info["shape"], "data_offsets": [offset, offset + len(raw)]}
    blobs.append(raw)
    offset += len(raw)
if meta is not None:
    out_header["__metadata__"] = meta
text = json.dumps(out_header, separators=(",", ":")).encode()
text += b" " * (-len(text) % 8)
tmp = dst + ".tmp"
with open(tmp, "wb") as f:
    f.write(struct.pack("<Q", len(text)))
    f.write(text)
    for b in blobs:
        f.write(b)
os.replace(tmp, dst)
print(f"{src} -> {dst}: {len(blobs)} tensors, {offset} bytes of data")
