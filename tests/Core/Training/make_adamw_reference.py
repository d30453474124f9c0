# Reference trajectory for tests/Core/Training/AdamWReferenceTests.cs: PyTorch's own torch.optim.AdamW (single-tensor
# form, foreach=False) on a small net for 50 steps, with two parameter groups (decay / no decay), a learning rate that
# changes every step, and a parameter that gets no gradient on some steps (AdamW then skips it: no state change).
# The test feeds the same gradients to our AdamWOptimizer and compares every parameter after every step.
# Run with Debian's python3-torch (1.13.1):
#   /usr/bin/python3 tests/Core/Training/make_adamw_reference.py tests/fixtures/adamw/reference.safetensors
import json
import math
import struct
import sys

import torch


def save_safetensors(path, tensors):
    # The safetensors layout (8-byte header length, JSON header, raw little-endian data), written by hand: the
    # safetensors package is not in Debian 12.
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        data = t.numpy().tobytes()
        dtype = {torch.float32: "F32", torch.float64: "F64"}[t.dtype]
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(4 * 5 * 5, 3))
names = ["conv.weight", "conv.bias", "fc.weight", "fc.bias"]
params = list(net.parameters())
decay = [p for n, p in zip(names, params) if p.dim() >= 2]
no_decay = [p for n, p in zip(names, params) if p.dim() < 2]
opt = torch.optim.AdamW(
    [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
    lr=1e-2, betas=(0.9, 0.999), eps=1e-8, foreach=False)

steps = 50
out = {f"{n}.init": p.detach().clone() for n, p in zip(names, params)}
lrs = []
gen = torch.Generator().manual_seed(1)
for t in range(steps):
    lr = 1e-2 * (0.5 + 0.5 * math.cos(math.pi * t / steps)) + 1e-4      # a cosine-like schedule
    for g in opt.param_groups:
        g["lr"] = lr
    lrs.append(lr)
    opt.zero_grad(set_to_none=True)
    x = torch.randn(8, 2, 5, 5, generator=gen)
    y = torch.randn(8, 3, generator=gen)
    loss = torch.nn.functional.mse_loss(net(x), y)
    loss.backward()
    if 10 <= t < 13:
        net[3].bias.grad = None                                             # fc.bias skips steps 10-12
    for n, p in zip(names, params):
        if p.grad is not None:
            out[f"{n}.grad.{t}"] = p.grad.detach().clone()
    opt.step()
    for n, p in zip(names, params):
        out[f"{n}.after.{t}"] = p.detach().clone()
for n, p in zip(names, params):
    st = opt.state[p]
    out[f"{n}.exp_avg"] = st["exp_avg"].clone()
    out[f"{n}.exp_avg_sq"] = st["exp_avg_sq"].clone()
out["lr"] = torch.tensor(lrs, dtype=torch.float64)
save_safetensors(sys.argv[1], out)
print(f"wrote {len(out)} tensors to {sys.argv[1]}; final fc.bias step count {int(opt.state[params[3]]['step'])}")
