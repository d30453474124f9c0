#!/usr/bin/env python3
"""The element-wise mean of float32 safetensors files with the same tensors (a "checkpoint soup" of one run's EMA
weights, e.g. scripts/ema-from-checkpoint.py's outputs at several steps):
  scripts/checkpoint-soup.py OUT.safetensors IN1.safetensors IN2.safetensors ...
Stdlib only (no numpy on our machines): a safetensors file is an 8-byte little-endian header length, a JSON header and
the raw little-endian tensor bytes, which array('f') reads on x86-64."""
import json, struct, sys
from array import array
def read(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8+n]); return h, b, 8 + n
out, ins = sys.argv[1], sys.argv[2:]
h0, b0, base0 = read(ins[0])
others = [read(p) for p in ins[1:]]
chunks, header, off = [], {}, 0
for k, info in sorted(h0.items()):
    if k == '__metadata__': continue
    assert info['dtype'] == 'F32', k
    s, e = info['data_offsets']
    acc = array('f', b0[base0+s:base0+e])
    for h, b, base in others:
        s2, e2 = h[k]['data_offsets']; x = array('f', b[base+s2:base+e2])
        acc = array('f', (a + y for a, y in zip(acc, x)))
    n = len(ins); acc = array('f', (a / n for a in acc))
    data = acc.tobytes(); header[k] = {'dtype': 'F32', 'shape': info['shape'], 'data_offsets': [off, off + len(data)]}
    chunks.append(data); off += len(data)
hj = json.dumps(header).encode(); hj += b' ' * ((8 - len(hj) % 8) % 8)
with open(out, 'wb') as f:
    f.write(struct.pack('<Q', len(hj))); f.write(hj); [f.write(c) for c in chunks]
