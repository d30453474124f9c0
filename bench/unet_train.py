"""U-Net training-step throughput in PyTorch (Debian's python3-torch 1.13), the twin of bench/UNetTrain.

Builds diffusers' UNet2DConditionModel from scratch (diffusers is not available here) with our UNetConfig.Default:
blocks [64, 128, 192, 192], CrossAttnDown x3 + Down, Up + CrossAttnUp x3, mid CrossAttn, 2 ResNets per level (3 up),
heads [2, 4, 6, 6] (32 wide), GroupNorm 32, cross_attention_dim 256, 1x1-conv projections, GEGLU feed-forward.
The parameter count is printed so it can be checked against ours (22.6M). Attention is diffusers' AttnProcessor
(baddbmm + softmax + bmm): PyTorch 1.13 has no scaled_dot_product_attention.

    OPENBLAS_NUM_THREADS=1 python3 bench/unet_train.py [threads] [batches=16,32] [iterations=5]
Prints one JSON line per batch size: {"impl": "pytorch", "batch": B, "samples_per_s": ..., "ms_per_step": ...}.
"""
import json, math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

GROUPS = 32


def norm(c, eps=1e-5):
    return nn.GroupNorm(GROUPS, c, eps=eps, affine=True)


class Resnet(nn.Module):
    def __init__(self, cin, cout, temb):
        super().__init__()
        self.norm1, self.conv1 = norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2, self.conv2 = norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.conv_shortcut(x) if self.conv_shortcut is not None else x) + h


class Attention(nn.Module):
    def __init__(self, dim, heads, context_dim=None):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(context_dim or dim, dim, bias=False)
        self.to_v = nn.Linear(context_dim or dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])

    def split(self, x):  # [B, N, C] -> [B*h, N, d]
        b, n, c = x.shape
        return x.reshape(b, n, self.heads, c // self.heads).permute(0, 2, 1, 3).reshape(b * self.heads, n, c // self.heads)

    def forward(self, x, context=None):
        context = x if context is None else context
        q, k, v = self.split(self.to_q(x)), self.split(self.to_k(context)), self.split(self.to_v(context))
        scores = torch.baddbmm(torch.empty(q.shape[0], q.shape[1], k.shape[1], dtype=q.dtype), q, k.transpose(-1, -2), beta=0, alpha=self.scale)
        out = torch.bmm(scores.softmax(dim=-1), v)
        b = x.shape[0]
        out = out.reshape(b, self.heads, out.shape[1], out.shape[2]).permute(0, 2, 1, 3).reshape(b, -1, self.heads * out.shape[2])
        return self.to_out[0](out)


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, 4 * dim), nn.Dropout(0.0), nn.Linear(4 * dim, dim)])

    def forward(self, x):
        return self.net[2](self.net[0](x))


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, context_dim):
        super().__init__()
        self.norm1, self.attn1 = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2, self.attn2 = nn.LayerNorm(dim), Attention(dim, heads, context_dim)
        self.norm3, self.ff = nn.LayerNorm(dim), FeedForward(dim)

    def forward(self, x, context):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class Transformer2D(nn.Module):
    def __init__(self, c, heads, context_dim):
        super().__init__()
        self.norm = norm(c, eps=1e-6)
        self.proj_in = nn.Conv2d(c, c, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(c, heads, context_dim)])
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x, context):
        b, c, h, w = x.shape
        r = x
        x = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(b, h * w, c)   # [B, C, H, W] -> [B, HW, C]
        for blk in self.transformer_blocks:
            x = blk(x, context)
        x = x.reshape(b, h, w, c).permute(0, 3, 1, 2).contiguous()                 # [B, HW, C] -> [B, C, H, W]
        return self.proj_out(x) + r


class Down(nn.Module):
    def __init__(self, cin, cout, temb, heads, ctx, attn, down):
        super().__init__()
        self.resnets = nn.ModuleList([Resnet(cin if i == 0 else cout, cout, temb) for i in range(2)])
        self.attentions = nn.ModuleList([Transformer2D(cout, heads, ctx) for _ in range(2)]) if attn else None
        self.downsamplers = nn.ModuleList([Downsample(cout)]) if down else None

    def forward(self, x, temb, ctx):
        skips = []
        for i, r in enumerate(self.resnets):
            x = r(x, temb)
            if self.attentions is not None:
                x = self.attentions[i](x, ctx)
            skips.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            skips.append(x)
        return x, skips


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Up(nn.Module):
    def __init__(self, cin, cprev, cout, temb, heads, ctx, attn, up):
        super().__init__()
        self.resnets = nn.ModuleList([
            Resnet((cprev if i == 0 else cout) + (cin if i == 2 else cout), cout, temb) for i in range(3)])
        self.attentions = nn.ModuleList([Transformer2D(cout, heads, ctx) for _ in range(3)]) if attn else None
        self.upsamplers = nn.ModuleList([Upsample(cout)]) if up else None

    def forward(self, x, skips, temb, ctx):
        for i, r in enumerate(self.resnets):
            x = r(torch.cat([x, skips.pop()], dim=1), temb)
            if self.attentions is not None:
                x = self.attentions[i](x, ctx)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


class Mid(nn.Module):
    def __init__(self, c, temb, heads, ctx):
        super().__init__()
        self.attentions = nn.ModuleList([Transformer2D(c, heads, ctx)])
        self.resnets = nn.ModuleList([Resnet(c, c, temb), Resnet(c, c, temb)])

    def forward(self, x, temb, ctx):
        x = self.resnets[0](x, temb)
        return self.resnets[1](self.attentions[0](x, ctx), temb)


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, temb):
        super().__init__()
        self.linear_1, self.linear_2 = nn.Linear(cin, temb), nn.Linear(temb, temb)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class UNet(nn.Module):
    def __init__(self, boc=(64, 128, 192, 192), heads=(2, 4, 6, 6), ctx=256, cin=4):
        super().__init__()
        self.c0, temb = boc[0], boc[0] * 4
        self.conv_in = nn.Conv2d(cin, boc[0], 3, padding=1)
        self.time_embedding = TimestepEmbedding(boc[0], temb)
        attn = [True, True, True, False]
        self.down_blocks = nn.ModuleList([
            Down(boc[i - 1] if i > 0 else boc[0], boc[i], temb, heads[i], ctx, attn[i], i < len(boc) - 1) for i in range(len(boc))])
        self.mid_block = Mid(boc[-1], temb, heads[-1], ctx)
        rb, rh, ra = list(reversed(boc)), list(reversed(heads)), list(reversed(attn))
        self.up_blocks = nn.ModuleList([
            Up(rb[min(i + 1, len(boc) - 1)], rb[i - 1] if i > 0 else rb[0], rb[i], temb, rh[i], ctx, ra[i], i < len(boc) - 1)
            for i in range(len(boc))])
        self.conv_norm_out = norm(boc[0])
        self.conv_out = nn.Conv2d(boc[0], cin, 3, padding=1)

    def time_proj(self, t):  # sinusoidal, flip_sin_to_cos=True, freq_shift=0
        half = self.c0 // 2
        exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32) / half
        emb = t[:, None].float() * torch.exp(exponent)[None, :]
        return torch.cat([torch.cos(emb), torch.sin(emb)], dim=-1)

    def forward(self, x, t, ctx):
        temb = self.time_embedding(self.time_proj(t))
        x = self.conv_in(x)
        skips = [x]
        for blk in self.down_blocks:
            x, s = blk(x, temb, ctx)
            skips += s
        x = self.mid_block(x, temb, ctx)
        for blk in self.up_blocks:
            n = len(blk.resnets)
            x = blk(x, skips[-n:], temb, ctx)
            del skips[-n:]
        return self.conv_out(F.silu(self.conv_norm_out(x)))


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads()
    batches = [int(b) for b in (sys.argv[2] if len(sys.argv) > 2 else "16,32").split(",")]
    iterations = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = UNet().train()
    params = sum(p.numel() for p in model.parameters())
    print(f"# pytorch {torch.__version__}: {params} parameters ({params / 1e6:.2f} M), {threads} threads", file=sys.stderr)
    for b in batches:
        x, ctx = torch.randn(b, 4, 16, 16), torch.randn(b, 77, 256)
        t = torch.randint(0, 1000, (b,))
        def step():
            model.zero_grad(set_to_none=True)
            model(x, t, ctx).square().mean().backward()
        step()  # warm-up
        times = []
        for _ in range(iterations):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        ms = sorted(times)[len(times) // 2] * 1000
        print(json.dumps({"impl": "pytorch", "batch": b, "params": params, "ms_per_step": round(ms, 2), "samples_per_s": round(b / ms * 1000, 2)}))


if __name__ == "__main__":
    main()
