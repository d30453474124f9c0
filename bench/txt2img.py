"""Text-to-image latency in PyTorch (Debian's python3-torch 1.13), the twin of bench/Txt2Img.

The same three models as the pipeline folder passed in, written in plain torch (diffusers and transformers cannot be
installed next to Debian's python3-torch), built from its config.json files with random weights (speed only):
  - text_encoder/: transformers' CLIPTextModel (token + position embedding, pre-LN blocks with causal attention,
    quick_gelu MLP, final LayerNorm), written here;
  - unet/: UNet2DConditionModel, the one of bench/unet_train.py;
  - vae/: AutoencoderKL, the one of bench/vae_train.py (only post_quant_conv + decoder run).
One image = what StableDiffusionPipeline.Generate does: encode the prompts [B, 77] and the empty negative prompt
[1, 77] (expanded to B), draw x_T ~ N(0, I) of [B, 4, h, w], `steps` DDIM steps (the folder's scheduler config;
eta 0) each with one batched [uncond; cond] U-Net call and guidance 7.5, then decode z / scaling_factor and clamp.
The tokenizer does not run (the token ids are fixed; it costs microseconds). bf16 converts the U-Net and its inputs
with .to(torch.bfloat16) as ours does (PipelineOptions.Dtype; autocast fails on this PyTorch), the text encoder, the
VAE, the latents and the scheduler stay float32. Everything runs under torch.inference_mode().

    OPENBLAS_NUM_THREADS=1 python3 bench/txt2img.py [--model DIR] [--threads N] [--calls 5] [--steps 30]
                                                    [--batches 1,4] [--dtypes fp32,bf16]
Per dtype and batch: one warm-up call, then the median of `calls` timed calls. Prints one JSON line each:
{"impl": "pytorch", "dtype": "fp32", "batch": B, "seconds_per_image": ..., "params": {...}, "arch": {...}}; params
and arch (a hash of every parameter's key and shape) per model equal bench/Txt2Img's only for the same architecture.
"""
import argparse
import hashlib
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import unet_train  # noqa: E402  (the U-Net of bench/unet_train.py)
import vae_train  # noqa: E402  (the AutoencoderKL of bench/vae_train.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPT_TOKENS = [10, 11, 12, 13, 14]  # a 5-token caption; the rest of the 77 positions are eos padding


# --- CLIP text encoder (transformers 4.33 modeling_clip.py, eager attention) -----------------------------------------

class ClipAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads, self.scale = heads, (d // heads) ** -0.5
        self.k_proj, self.v_proj, self.q_proj, self.out_proj = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x, mask):
        # x: [B, T, D] -> q, k, v [B, heads, T, Dh] -> softmax(q k^T / sqrt(Dh) + causal) v -> [B, T, D]
        b, t, d = x.shape
        split = lambda h: h.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = split(self.q_proj(x) * self.scale), split(self.k_proj(x)), split(self.v_proj(x))
        w = torch.matmul(q, k.transpose(-1, -2)) + mask
        o = torch.matmul(w.softmax(-1), v)
        return self.out_proj(o.transpose(1, 2).reshape(b, t, d))


class ClipMlp(nn.Module):
    def __init__(self, d, f, act):
        super().__init__()
        self.fc1, self.fc2, self.act = nn.Linear(d, f), nn.Linear(f, d), act

    def forward(self, x):
        h = self.fc1(x)
        h = h * torch.sigmoid(1.702 * h) if self.act == "quick_gelu" else F.gelu(h)
        return self.fc2(h)


class ClipEncoderLayer(nn.Module):
    def __init__(self, d, f, heads, eps, act):
        super().__init__()
        self.self_attn, self.layer_norm1 = ClipAttention(d, heads), nn.LayerNorm(d, eps=eps)
        self.mlp, self.layer_norm2 = ClipMlp(d, f, act), nn.LayerNorm(d, eps=eps)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class ClipEmbeddings(nn.Module):
    def __init__(self, vocab, d, positions):
        super().__init__()
        self.token_embedding, self.position_embedding = nn.Embedding(vocab, d), nn.Embedding(positions, d)

    def forward(self, ids):
        # ids: [B, T] -> [B, T, D]
        return self.token_embedding(ids) + self.position_embedding(torch.arange(ids.shape[1]))[None]


class ClipEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.ModuleList([
            ClipEncoderLayer(c["hidden_size"], c["intermediate_size"], c["num_attention_heads"], c["layer_norm_eps"], c["hidden_act"])
            for _ in range(c["num_hidden_layers"])])


class ClipTextTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = ClipEmbeddings(c["vocab_size"], c["hidden_size"], c["max_position_embeddings"])
        self.encoder = ClipEncoder(c)
        self.final_layer_norm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])


class ClipTextModel(nn.Module):
    """transformers' CLIPTextModel: ids [B, T] -> last hidden state [B, T, D] (keys text_model.*)."""

    def __init__(self, c):
        super().__init__()
        self.text_model = ClipTextTransformer(c)

    def forward(self, ids):
        m = self.text_model
        h = m.embeddings(ids)
        t = ids.shape[1]
        mask = torch.full((t, t), float("-inf")).triu(1)  # [T, T]: -inf above the diagonal
        for layer in m.encoder.layers:
            h = layer(h, mask)
        return m.final_layer_norm(h)


# --- the U-Net and the VAE of the training benchmarks, built from the folder's configs ----------------------------

class UNet(unet_train.UNet):
    """bench/unet_train.py's U-Net; the timestep embedding is cast to the weights' dtype, as diffusers does."""

    def time_proj(self, t):
        return super().time_proj(t).to(self.conv_in.weight.dtype)


def expect(component, key, value, expected):
    if value != expected:
        sys.exit(f"txt2img.py: {component}/config.json: {key} is {value!r}; this benchmark's PyTorch model supports {expected!r}")


def build_unet(c):
    n = len(c["block_out_channels"])
    expect("unet", "down_block_types", c["down_block_types"], ["CrossAttnDownBlock2D"] * (n - 1) + ["DownBlock2D"])
    expect("unet", "up_block_types", c["up_block_types"], ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * (n - 1))
    for key, expected in [("layers_per_block", 2), ("transformer_layers_per_block", 1), ("use_linear_projection", False),
                          ("out_channels", c["in_channels"]), ("norm_eps", 1e-5)]:
        expect("unet", key, c.get(key, expected), expected)
    heads = c.get("num_attention_heads") or c.get("attention_head_dim")
    heads = heads if isinstance(heads, list) else [heads] * n
    unet_train.GROUPS = c["norm_num_groups"]  # read by unet_train.norm() while the modules are built
    return UNet(boc=tuple(c["block_out_channels"]), heads=tuple(heads), ctx=c["cross_attention_dim"], cin=c["in_channels"])


def build_vae(c):
    expect("vae", "out_channels", c["out_channels"], c["in_channels"])
    vae_train.LAYERS_PER_BLOCK, vae_train.LATENT, vae_train.IN_CH = c["layers_per_block"], c["latent_channels"], c["in_channels"]
    return vae_train.AutoencoderKL(c["block_out_channels"], c["norm_num_groups"])


def fingerprint(module):
    keys = sorted(f"{name}:{','.join(map(str, p.shape))}" for name, p in module.named_parameters())
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]


# --- DDIM (diffusers 0.21 DDIMScheduler, eta 0) --------------------------------------------------------------------

class Ddim:
    def __init__(self, c, steps):
        n, spacing = c["num_train_timesteps"], c.get("timestep_spacing", "leading")
        if c["beta_schedule"] == "scaled_linear":
            betas = torch.linspace(c["beta_start"] ** 0.5, c["beta_end"] ** 0.5, n, dtype=torch.float32) ** 2
        elif c["beta_schedule"] == "linear":
            betas = torch.linspace(c["beta_start"], c["beta_end"], n, dtype=torch.float32)
        else:
            sys.exit(f"txt2img.py: scheduler beta_schedule {c['beta_schedule']!r}; expected scaled_linear or linear")
        expect("scheduler", "prediction_type", c.get("prediction_type", "epsilon"), "epsilon")
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.final_alpha_cumprod = torch.tensor(1.0) if c.get("set_alpha_to_one", True) else self.alphas_cumprod[0]
        self.step_ratio = n // steps
        if spacing == "leading":
            ts = [i * self.step_ratio + c.get("steps_offset", 0) for i in reversed(range(steps))]
        elif spacing == "trailing":
            ts = [round(n - i * n / steps) - 1 for i in range(steps)]
        elif spacing == "linspace":
            ts = [round(i * (n - 1) / (steps - 1)) if steps > 1 else 0 for i in reversed(range(steps))]
        else:
            sys.exit(f"txt2img.py: scheduler timestep_spacing {spacing!r}; expected leading, trailing or linspace")
        self.timesteps = ts

    def step(self, eps, t, x):
        # x_{t-1} = sqrt(a_prev) x0 + sqrt(1 - a_prev) eps, x0 = (x - sqrt(1 - a_t) eps) / sqrt(a_t)
        prev = t - self.step_ratio
        a_t = self.alphas_cumprod[t]
        a_prev = self.alphas_cumprod[prev] if prev >= 0 else self.final_alpha_cumprod
        x0 = (x - (1 - a_t) ** 0.5 * eps) / a_t ** 0.5
        return a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps


# --- one call of the pipeline --------------------------------------------------------------------------------------

def generate(models, configs, batch, steps, seed, dtype, guidance=7.5):
    text_encoder, unet, vae = models
    te, uc, vc = configs["text_encoder"], configs["unet"], configs["vae"]
    eos, t_max = te["eos_token_id"], te["max_position_embeddings"]
    ids = lambda tokens: torch.tensor([te["bos_token_id"]] + tokens + [eos] * (t_max - 1 - len(tokens)))[None]  # [1, 77]
    # Prompts: cond [B, T, D]; the empty negative prompt [1, T, D] -> [B, T, D]; [uncond; cond]: [2B, T, D]
    cond = text_encoder(ids(PROMPT_TOKENS).expand(batch, -1).contiguous())
    uncond = text_encoder(ids([])).expand(batch, -1, -1)
    context = torch.cat([uncond, cond]).to(dtype)
    scheduler = Ddim(configs["scheduler"], steps)
    side = uc["sample_size"]
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn(batch, uc["in_channels"], side, side, generator=generator)  # [B, C, h, w], init sigma 1
    for t in scheduler.timesteps:
        x = torch.cat([latents, latents]).to(dtype)                                    # [2B, C, h, w]
        eps = unet(x, torch.full((2 * batch,), t, dtype=torch.long), context).float()
        uncond_eps, cond_eps = eps.chunk(2)
        latents = scheduler.step(uncond_eps + guidance * (cond_eps - uncond_eps), t, latents)
    z = latents / vc.get("scaling_factor", 0.18215)
    return vae.decoder(vae.post_quant_conv(z)).clamp(-1, 1)                            # [B, 3, H, W]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=os.path.join(ROOT, "weights", "emoji-64"))
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--calls", type=int, default=5)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batches", default="1,4")
    p.add_argument("--dtypes", default="fp32,bf16")
    a = p.parse_args()
    batches = [int(b) for b in a.batches.split(",")]
    if a.calls < 1 or a.steps < 1 or min(batches) < 1:
        sys.exit(f"txt2img.py: expected calls >= 1, steps >= 1, batches >= 1; got {a.calls}, {a.steps}, {a.batches}")
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    read = lambda part, name="config.json": json.load(open(os.path.join(a.model, part, name)))
    configs = {"text_encoder": read("text_encoder"), "unet": read("unet"), "vae": read("vae"),
               "scheduler": read("scheduler", "scheduler_config.json")}
    names = ["text_encoder", "unet", "vae"]
    fp32 = [ClipTextModel(configs["text_encoder"]).eval(), build_unet(configs["unet"]).eval(), build_vae(configs["vae"]).eval()]
    params = {n: sum(q.numel() for q in m.parameters()) for n, m in zip(names, fp32)}
    arch = {n: fingerprint(m) for n, m in zip(names, fp32)}
    print(f"# pytorch {torch.__version__}: {a.model}, {a.threads} threads; parameters "
          + ", ".join(f"{n} {c:,}" for n, c in params.items()), file=sys.stderr)

    for dtype_name in a.dtypes.split(","):
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}.get(dtype_name)
        if dtype is None:
            sys.exit(f"txt2img.py: dtype {dtype_name!r} is unknown; expected fp32 or bf16")
        fp32[1].to(dtype)  # the U-Net only, as PipelineOptions.Dtype
        for b in batches:
            with torch.inference_mode():
                generate(fp32, configs, b, a.steps, 0, dtype)  # warm-up
                times = []
                for i in range(a.calls):
                    start = time.perf_counter()
                    generate(fp32, configs, b, a.steps, i + 1, dtype)
                    times.append(time.perf_counter() - start)
            median = statistics.median(times)
            print(json.dumps({"impl": "pytorch", "dtype": dtype_name, "batch": b, "steps": a.steps, "threads": a.threads,
                              "calls": a.calls, "seconds_per_image": round(median / b, 5), "seconds_per_call": round(median, 5),
                              "params": params, "arch": arch}), flush=True)
        fp32[1].to(torch.float32)


if __name__ == "__main__":
    main()
