"""VAE training throughput of PyTorch for bench/vae_train.sh: the AutoencoderKL of src/Vae and the training step of
src/Vae/Training/VaeTrainer.cs, written from scratch (diffusers cannot be installed next to Debian's python3-torch).

    python3 bench/vae_train.py PRESET [threads=2] [steps=20] [warmup=3] [batch=16]

PRESET is `light` (VaeConfig.Light: 32-64-64 channels, 16 groups) or `default` (VaeConfig.Default: 64-128-128, 32
groups). One step = encode, sample the posterior, decode, L1 + 1e-6 * KL, backward, grad-norm clip 1.0, AdamW
(lr 2e-4, betas 0.5/0.9, weight decay 0.01 on matrices only), EMA update with warm-up, on a fixed batch of random
64x64 images. Prints one JSON line: the median step time over `steps` steps after `warmup` steps, and samples/s.
The module names follow diffusers: `arch` (a hash of every key and shape) equals the one bench/VaeTrain prints.
"""
import hashlib
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

PRESETS = {
    # VaeConfig.Light and VaeConfig.Default (src/Vae/VaeConfig.cs); both: 3 -> latent 4, 2 ResNets a level, 64 px.
    "light": dict(block_out_channels=(32, 64, 64), norm_num_groups=16),
    "default": dict(block_out_channels=(64, 128, 128), norm_num_groups=32),
}
LAYERS_PER_BLOCK, LATENT, IN_CH, SIZE, EPS = 2, 4, 3, 64, 1e-6


class ResnetBlock2D(nn.Module):
    """norm1-SiLU-conv1, norm2-SiLU-(dropout 0)-conv2, 1x1 shortcut when the width changes (no time embedding)."""

    def __init__(self, cin, cout, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, EPS)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, cout, EPS)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        # x: [B, Cin, H, W] -> [B, Cout, H, W]
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.conv_shortcut is None else self.conv_shortcut(x)) + h


class Attention(nn.Module):
    """The mid-block's single-head self-attention with its GroupNorm and residual (diffusers' classic AttnProcessor)."""

    def __init__(self, c, groups):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, c, EPS)
        self.to_q, self.to_k, self.to_v = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c)
        self.to_out = nn.ModuleList([nn.Linear(c, c)])

    def forward(self, x):
        # x: [B, C, H, W] -> [B, N, C] -> attention over N = H*W -> [B, C, H, W]
        b, c = x.shape[:2]
        h = x.reshape(b, c, -1).transpose(1, 2)
        h = self.group_norm(h.transpose(1, 2)).transpose(1, 2)
        n = h.shape[1]
        q = self.to_q(h).view(b, n, 1, c).transpose(1, 2)  # [B, 1, N, C]
        k = self.to_k(h).view(b, n, 1, c).transpose(1, 2)
        v = self.to_v(h).view(b, n, 1, c).transpose(1, 2)
        # PyTorch 1.13 has no fused scaled_dot_product_attention: the softmax(Q K^T / sqrt(d)) V that diffusers runs there.
        o = torch.matmul(q, k.transpose(-1, -2)).mul_(c ** -0.5).softmax(-1).matmul(v)
        o = self.to_out[0](o.transpose(1, 2).reshape(b, n, c))
        return o.transpose(1, 2).reshape(x.shape) + x


class UNetMidBlock2D(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(c, c, groups), ResnetBlock2D(c, c, groups)])
        self.attentions = nn.ModuleList([Attention(c, groups)])

    def forward(self, x):
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


class Downsample2D(nn.Module):
    """The VAE's downsampler: pad right and bottom by one, then a 3x3 stride-2 conv without padding."""

    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # [B, C, H, W] -> [B, C, H/2, W/2]


class Upsample2D(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))  # [B, C, H, W] -> [B, C, 2H, 2W]


class Block(nn.Module):
    """DownEncoderBlock2D (sampler = Downsample2D) or UpDecoderBlock2D (sampler = Upsample2D)."""

    def __init__(self, cin, cout, layers, groups, sampler, name):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, groups) for i in range(layers)])
        if sampler is not None:
            setattr(self, name, nn.ModuleList([sampler(cout)]))
        self.sampler = name if sampler is not None else None

    def forward(self, x):
        for r in self.resnets:
            x = r(x)
        return getattr(self, self.sampler)[0](x) if self.sampler else x


class Encoder(nn.Module):
    def __init__(self, widths, groups):
        super().__init__()
        self.conv_in = nn.Conv2d(IN_CH, widths[0], 3, padding=1)
        cin, blocks = widths[0], []
        for i, w in enumerate(widths):
            last = i == len(widths) - 1
            blocks.append(Block(cin, w, LAYERS_PER_BLOCK, groups, None if last else Downsample2D, "downsamplers"))
            cin = w
        self.down_blocks = nn.ModuleList(blocks)
        self.mid_block = UNetMidBlock2D(widths[-1], groups)
        self.conv_norm_out = nn.GroupNorm(groups, widths[-1], EPS)
        self.conv_out = nn.Conv2d(widths[-1], 2 * LATENT, 3, padding=1)

    def forward(self, x):
        # x: [B, 3, H, W] -> [B, 2*latent, H/4, W/4]
        h = self.conv_in(x)
        for b in self.down_blocks:
            h = b(h)
        return self.conv_out(F.silu(self.conv_norm_out(self.mid_block(h))))


class Decoder(nn.Module):
    def __init__(self, widths, groups):
        super().__init__()
        rev = list(reversed(widths))
        self.conv_in = nn.Conv2d(LATENT, rev[0], 3, padding=1)
        self.mid_block = UNetMidBlock2D(rev[0], groups)
        prev, blocks = rev[0], []
        for i, w in enumerate(rev):
            last = i == len(rev) - 1
            blocks.append(Block(prev, w, LAYERS_PER_BLOCK + 1, groups, None if last else Upsample2D, "upsamplers"))
            prev = w
        self.up_blocks = nn.ModuleList(blocks)
        self.conv_norm_out = nn.GroupNorm(groups, rev[-1], EPS)
        self.conv_out = nn.Conv2d(rev[-1], IN_CH, 3, padding=1)

    def forward(self, z):
        # z: [B, latent, h, w] -> [B, 3, 4h, 4w]
        h = self.mid_block(self.conv_in(z))
        for b in self.up_blocks:
            h = b(h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class AutoencoderKL(nn.Module):
    def __init__(self, block_out_channels, norm_num_groups):
        super().__init__()
        self.encoder = Encoder(block_out_channels, norm_num_groups)
        self.decoder = Decoder(block_out_channels, norm_num_groups)
        self.quant_conv = nn.Conv2d(2 * LATENT, 2 * LATENT, 1)
        self.post_quant_conv = nn.Conv2d(LATENT, LATENT, 1)


def main():
    preset = sys.argv[1] if len(sys.argv) > 1 else "light"
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    warmup = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    batch = int(sys.argv[5]) if len(sys.argv) > 5 else 16
    if preset not in PRESETS:
        sys.exit(f"vae_train.py: preset '{preset}' is unknown; expected one of {sorted(PRESETS)}")
    torch.set_num_threads(threads)
    torch.manual_seed(0)

    vae = AutoencoderKL(**PRESETS[preset]).train()
    params = list(vae.parameters())
    count = sum(p.numel() for p in params)
    # Fingerprint of every parameter's diffusers key and shape, sorted: equal to ours only for the same architecture.
    keys = sorted(f"{name}:{','.join(map(str, p.shape))}" for name, p in vae.named_parameters())
    arch = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
    # AdamWOptimizer.DecayMatricesOnly: weight decay on tensors of rank >= 2, none on biases and norm weights.
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.01},
         {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
        lr=2e-4, betas=(0.5, 0.9), eps=1e-8, foreach=False)
    shadows = [p.detach().clone() for p in params]
    ema_step = 0
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch, IN_CH, SIZE, SIZE, generator=generator) * 2 - 1  # [B, 3, 64, 64] in [-1, 1]

    def step():
        nonlocal ema_step
        optimizer.zero_grad()
        # Encode to the posterior N(mean, exp(logvar)), as DiagonalGaussianDistribution does (std and var up front).
        moments = vae.quant_conv(vae.encoder(x))                       # [B, 8, 16, 16]
        mean, logvar = moments.chunk(2, 1)
        logvar = logvar.clamp(-30.0, 20.0)
        std, var = logvar.mul(0.5).exp(), logvar.exp()
        z = mean + std * torch.randn(mean.shape, generator=generator)  # [B, 4, 16, 16]
        reconstruction = vae.decoder(vae.post_quant_conv(z))           # [B, 3, 64, 64]
        rec = F.l1_loss(reconstruction, x)
        kl = (mean.square() + var - 1.0 - logvar).sum((1, 2, 3)).mul(0.5).mean().div(IN_CH * SIZE * SIZE)
        loss = rec + 1e-6 * kl
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        if torch.isfinite(norm):
            optimizer.step()
        # ExponentialMovingAverage (diffusers' EMAModel) with warm-up: decay = min(0.999, 1 - (1 + s)^(-2/3)).
        ema_step += 1
        s = ema_step - 1
        decay = 0.0 if s <= 0 else min(1.0 - (1.0 + s) ** (-2.0 / 3.0), 0.999)
        with torch.no_grad():
            for shadow, p in zip(shadows, params):
                shadow.sub_((shadow - p).mul_(1.0 - decay))
        return loss.item(), rec.item(), kl.item()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(json.dumps({"impl": "pytorch", "preset": preset, "params": count, "arch": arch, "batch": batch, "threads": threads,
                      "steps": steps, "step_s": round(median, 5), "samples_per_s": round(batch / median, 3)}), flush=True)


if __name__ == "__main__":
    with torch.inference_mode(False):
        main()
