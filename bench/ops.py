"""Per-op timings of PyTorch for bench/ops.sh: the same ops, shapes and timing method as bench/Ops/Program.cs."""
import json
import sys
import time

import torch

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
scale = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
torch.set_num_threads(threads)
torch.manual_seed(0)


def report(name, calls, setup):
    calls = max(5, int(calls * scale))
    op = setup()
    for _ in range(max(3, calls // 10)):
        op()
    batches = 15
    per_batch = max(1, calls // batches)
    times = []
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(per_batch):
            op()
        times.append((time.perf_counter() - start) * 1e6 / per_batch)
    times.sort()
    print(json.dumps({"impl": "pytorch", "op": name, "us": round(times[batches // 2], 2)}), flush=True)


def add_setup():
    a, b = torch.ones(4), torch.ones(4)
    return lambda: a.add(b)


def linear_setup():
    linear, x = torch.nn.Linear(64, 64), torch.randn(8, 64)
    return lambda: linear(x)


def fwd_bwd(fn, *tensors):
    def op():
        fn(*tensors).sum().backward()
        for t in tensors:
            t.grad.zero_()
    return op


def conv_setup():
    x = torch.randn(8, 64, 32, 32).requires_grad_()
    w = (torch.randn(64, 64, 3, 3) * 0.05).requires_grad_()
    return fwd_bwd(lambda x, w: torch.nn.functional.conv2d(x, w, padding=1), x, w)


def matmul_setup():
    a, b = torch.randn(512, 512).requires_grad_(), torch.randn(512, 512).requires_grad_()
    return fwd_bwd(torch.matmul, a, b)


def sdpa_setup(t):
    def setup():
        q = torch.randn(2, 8, 256, 32).requires_grad_()
        k = torch.randn(2, 8, t, 32).requires_grad_()
        v = torch.randn(2, 8, t, 32).requires_grad_()
        if hasattr(torch.nn.functional, "scaled_dot_product_attention"):
            fn = torch.nn.functional.scaled_dot_product_attention
        else:  # PyTorch 1.13 has no fused SDPA: the classic softmax(QK^T / sqrt(d)) V it would run instead.
            fn = lambda q, k, v: torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1) @ v
        return fwd_bwd(fn, q, k, v)
    return setup


with torch.inference_mode(False):
    report("add 4 elements", 20000, add_setup)
    report("linear 64->64, batch 8", 5000, linear_setup)
    report("conv2d 3x3 64->64 [8,64,32,32] fwd+bwd", 20, conv_setup)
    report("matmul [512,512]x[512,512] fwd+bwd", 40, matmul_setup)
    report("sdpa self B=2 h=8 N=256 d=32 fwd+bwd", 40, sdpa_setup(256))
    report("sdpa cross B=2 h=8 N=256 T=77 d=32 fwd+bwd", 40, sdpa_setup(77))
