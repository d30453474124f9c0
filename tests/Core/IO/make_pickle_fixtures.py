# Fixtures for tests/Core/IO/PickleCheckpointTests.cs: small torch.save files (PyTorch's zip-pickle format) and the
# tensors they must load to, written as safetensors (contiguous copies) so the test compares values without Python.
# Also MALICIOUS pickles whose reduce names os.system / builtins.eval / subprocess.Popen: loading them must refuse the
# global by name and never run it (the marker files below must not appear).
# Run with Debian's python3-torch (1.13.1):
#   /usr/bin/python3 tests/Core/IO/make_pickle_fixtures.py tests/fixtures/pickle
import collections
import json
import os
import struct
import subprocess
import sys

import torch

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
          torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}


def raw_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)  # numpy has no bfloat16; the bytes are the same
    return t.numpy().tobytes()


def save_safetensors(path, tensors):
    # The safetensors layout written by hand: the safetensors package is not in Debian 12.
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = raw_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


expected = {}

# 1. Several dtypes, a 0-d tensor and an nn.Parameter (torch._utils._rebuild_parameter), in an OrderedDict.
dtypes = collections.OrderedDict()
dtypes["f32"] = torch.randn(3, 4)
dtypes["f16"] = torch.randn(2, 5).half()
dtypes["bf16"] = torch.randn(4, 2).bfloat16()
dtypes["f64"] = torch.randn(3).double()
dtypes["i64"] = torch.arange(-3, 6, dtype=torch.int64).reshape(3, 3)
dtypes["i32"] = torch.tensor([7, -8, 2**31 - 1], dtype=torch.int32)
dtypes["u8"] = torch.tensor([0, 255, 17], dtype=torch.uint8)
dtypes["flag"] = torch.tensor([True, False, True])
dtypes["scalar"] = torch.tensor(2.5)
dtypes["param"] = torch.nn.Parameter(torch.randn(2, 2))
torch.save(dtypes, os.path.join(out, "dtypes.pt"))
expected.update({"dtypes/" + k: v.detach() for k, v in dtypes.items()})

# 2. Views of one storage: a transpose (non-contiguous), an offset slice, a row; all four share one storage.
base = torch.arange(30, dtype=torch.float32).reshape(5, 6)
views = {"base": base, "transposed": base.t(), "slice": base[1:4, 2:5], "row": base[3]}
torch.save(views, os.path.join(out, "views.pt"))
expected.update({"views/" + k: v for k, v in views.items()})

# 3. A Lightning-style wrapper: {"state_dict": {...}, "global_step": N, "epoch": E}.
wrapped = {"state_dict": {"model.w": torch.randn(2, 3), "model.b": torch.randn(3)}, "global_step": 1234, "epoch": 2,
           "outside": torch.ones(2)}
torch.save(wrapped, os.path.join(out, "wrapped.ckpt"))
expected.update({"wrapped/" + k: v for k, v in wrapped["state_dict"].items()})

# 4. Nested containers: OrderedDicts in dicts, a list of tensors, and non-tensor leaves (ignored, reported).
inner = collections.OrderedDict([("weight", torch.randn(2, 2)), ("bias", torch.randn(2))])
nested = collections.OrderedDict()
nested["encoder"] = inner
nested["decoder"] = {"layers": {"0": {"w": torch.randn(3)}}, "name": "dec"}
nested["blocks"] = [torch.randn(2), torch.randn(1)]
nested["count"] = 3
nested["ratio"] = 0.5
nested["nothing"] = None
torch.save(nested, os.path.join(out, "nested.pt"))
expected.update({"nested/encoder.weight": inner["weight"], "nested/encoder.bias": inner["bias"],
                 "nested/decoder.layers.0.w": nested["decoder"]["layers"]["0"]["w"],
                 "nested/blocks.0": nested["blocks"][0], "nested/blocks.1": nested["blocks"][1]})

# 5. A module's state_dict (an OrderedDict carrying _metadata, set by BUILD), as pytorch_model.bin is written.
lin = torch.nn.Linear(3, 2)
torch.save(lin.state_dict(), os.path.join(out, "linear.bin"))
expected.update({"linear/" + k: v.detach() for k, v in lin.state_dict().items()})
# ... and as the weights of a diffusers model folder that has no safetensors file.
os.makedirs(os.path.join(out, "bin-folder"), exist_ok=True)
torch.save(lin.state_dict(), os.path.join(out, "bin-folder", "diffusion_pytorch_model.bin"))
with open(os.path.join(out, "bin-folder", "config.json"), "w") as f:
    json.dump({"_class_name": "TinyLinear"}, f)

# 6. The legacy (pre-1.6, non-zip) format: refused with a clear error.
torch.save({"w": torch.ones(2)}, os.path.join(out, "legacy.pt"), _use_new_zipfile_serialization=False)

save_safetensors(os.path.join(out, "expected.safetensors"), expected)


# 7. Malicious pickles. Each sits next to a real tensor inside a state dict, as a poisoned checkpoint would.
class System:
    def __reduce__(self):
        return (os.system, ("touch /tmp/latent-pwned-system",))


class Eval:
    def __reduce__(self):
        return (eval, ("open('/tmp/latent-pwned-eval', 'w').close()",))


class Popen:
    def __reduce__(self):
        return (subprocess.Popen, (["touch", "/tmp/latent-pwned-popen"],))


torch.save({"state_dict": {"w": torch.ones(2), "evil": System()}}, os.path.join(out, "evil-system.ckpt"))
# Protocol 4 names the global with STACK_GLOBAL rather than GLOBAL: both opcodes must be checked.
torch.save({"state_dict": {"w": torch.ones(2), "evil": Eval()}}, os.path.join(out, "evil-eval.ckpt"), pickle_protocol=4)
# Protocol 3: below it, pickle's fix_imports renames subprocess.Popen to Python 2's commands.Popen.
torch.save({"w": torch.ones(2), "evil": Popen()}, os.path.join(out, "evil-popen.bin"), pickle_protocol=3)
