# Reference numbers for tests/Schedulers/*.cs.
# Run with Debian's python3 (torch 1.13.1, numpy 1.24.2): /usr/bin/python3 make_scheduler_reference.py
# The functions below transcribe diffusers 0.21.4's schedulers (scheduling_ddpm.py, scheduling_ddim.py, scheduling_pndm.py,
# scheduling_euler_ancestral_discrete.py, scheduling_dpmsolver_multistep.py) line by line, with torch/numpy doing the
# float32/float64 arithmetic exactly as diffusers does; diffusers itself cannot be installed here.
import math
import numpy as np
import torch

def f32(x):
    return repr(np.float32(x)) + "f"

def f64(x):
    return repr(float(x))

# ---------------------------------------------------------------- betas / alphas_cumprod
def betas_for_alpha_bar(n, max_beta=0.999):
    def alpha_bar_fn(t):
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    betas = []
    for i in range(n):
        t1 = i / n
        t2 = (i + 1) / n
        betas.append(min(1 - alpha_bar_fn(t2) / alpha_bar_fn(t1), max_beta))
    return torch.tensor(betas, dtype=torch.float32)

def make_betas(schedule, beta_start=0.0001, beta_end=0.02, T=1000):
    if schedule == "linear":
        return torch.linspace(beta_start, beta_end, T, dtype=torch.float32)
    if schedule == "scaled_linear":
        return torch.linspace(beta_start**0.5, beta_end**0.5, T, dtype=torch.float32) ** 2
    if schedule == "squaredcos_cap_v2":
        return betas_for_alpha_bar(T)
    if schedule == "sigmoid":
        betas = torch.linspace(-6, 6, T)
        return torch.sigmoid(betas) * (beta_end - beta_start) + beta_start
    raise ValueError

def rescale_zero_terminal_snr(betas):
    alphas = 1.0 - betas
    alphas_cumprod = torch.cumprod(alphas, dim=0)
    alphas_bar_sqrt = alphas_cumprod.sqrt()
    a0 = alphas_bar_sqrt[0].clone()
    aT = alphas_bar_sqrt[-1].clone()
    alphas_bar_sqrt -= aT
    alphas_bar_sqrt *= a0 / (a0 - aT)
    alphas_bar = alphas_bar_sqrt**2
    alphas = alphas_bar[1:] / alphas_bar[:-1]
    alphas = torch.cat([alphas_bar[0:1], alphas])
    return 1 - alphas

def acp(betas):
    return torch.cumprod(1.0 - betas, dim=0)

print("// ---- alphas_cumprod")
idx = [0, 1, 499, 998, 999]
for name, args in [("linear", ("linear",)), ("scaled_linear_sd", ("scaled_linear", 0.00085, 0.012)),
                   ("cosine", ("squaredcos_cap_v2",)), ("sigmoid", ("sigmoid",))]:
    b = make_betas(*args)
    a = acp(b)
    print(name, "betas", [f32(b[i]) for i in idx])
    print(name, "acp", [f32(a[i]) for i in idx])
b = rescale_zero_terminal_snr(make_betas("scaled_linear", 0.00085, 0.012))
a = acp(b)
print("rescaled acp", [f32(a[i]) for i in idx])

# ---------------------------------------------------------------- timesteps
def ddim_timesteps(spacing, n, T=1000, offset=0):
    if spacing == "linspace":
        t = np.linspace(0, T - 1, n).round()[::-1].copy().astype(np.int64)
    elif spacing == "leading":
        r = T // n
        t = (np.arange(0, n) * r).round()[::-1].copy().astype(np.int64)
        t += offset
    else:
        r = T / n
        t = np.round(np.arange(T, 0, -r)).astype(np.int64)
        t -= 1
    return t

print("// ---- DDIM/DDPM timesteps")
for sp, n, off in [("leading", 50, 1), ("trailing", 50, 0), ("linspace", 50, 0), ("trailing", 30, 0), ("linspace", 30, 0),
                   ("trailing", 7, 0), ("leading", 30, 1)]:
    print(sp, n, off, list(ddim_timesteps(sp, n, offset=off)))

# ---------------------------------------------------------------- fixed inputs
def inputs():
    sample = (torch.arange(8, dtype=torch.float32) - 3.5) / 4
    model = torch.arange(8, dtype=torch.float32) * 0.37 - 1
    return sample.reshape(1, 2, 2, 2), model.reshape(1, 2, 2, 2)

def threshold(sample, ratio=0.995, maxv=1.0):
    dtype = sample.dtype
    b, c, *rest = sample.shape
    sample = sample.reshape(b, c * np.prod(rest))
    s = torch.quantile(sample.abs(), ratio, dim=1)
    s = torch.clamp(s, min=1, max=maxv)
    s = s.unsqueeze(1)
    sample = torch.clamp(sample, -s, s) / s
    return sample.reshape(b, c, *rest).to(dtype)

# ---------------------------------------------------------------- DDPM step
def ddpm_step(acp_, n, model_output, t, sample, gen, pred="epsilon", clip=True, clip_range=1.0, var="fixed_small", T=1000, thresholding=False):
    one = torch.tensor(1.0)
    prev_t = t - T // n
    a_t = acp_[t]
    a_prev = acp_[prev_t] if prev_t >= 0 else one
    b_t = 1 - a_t
    b_prev = 1 - a_prev
    cur_alpha = a_t / a_prev
    cur_beta = 1 - cur_alpha
    if pred == "epsilon":
        x0 = (sample - b_t ** (0.5) * model_output) / a_t ** (0.5)
    elif pred == "sample":
        x0 = model_output
    else:
        x0 = (a_t**0.5) * sample - (b_t**0.5) * model_output
    if thresholding:
        x0 = threshold(x0)
    elif clip:
        x0 = x0.clamp(-clip_range, clip_range)
    c0 = (a_prev ** (0.5) * cur_beta) / b_t
    ct = cur_alpha ** (0.5) * b_prev / b_t
    prev = c0 * x0 + ct * sample
    variance = (1 - a_prev) / (1 - a_t) * cur_beta
    variance = torch.clamp(variance, min=1e-20)
    if var == "fixed_large":
        variance = cur_beta
    if t > 0:
        noise = torch.randn(model_output.shape, generator=gen, dtype=model_output.dtype)
        prev = prev + (variance ** 0.5) * noise
    return prev, x0, c0, ct, variance

print("// ---- DDPM")
a_lin = acp(make_betas("linear"))
s, m = inputs()
for var in ["fixed_small", "fixed_large"]:
    g = torch.Generator().manual_seed(0)
    prev, x0, c0, ct, v = ddpm_step(a_lin, 1000, m, 500, s, g, var=var)
    print(var, "t=500 n=1000 prev", [f32(x) for x in prev.flatten()], "c0", f32(c0), "ct", f32(ct), "var", f32(v))
g = torch.Generator().manual_seed(0)
prev, *_ = ddpm_step(a_lin, 50, m, 0, s, g)
print("t=0 n=50 prev (no noise)", [f32(x) for x in prev.flatten()])
g = torch.Generator().manual_seed(0)
prev, *_ = ddpm_step(a_lin, 10, m, 300, s, g, pred="v_prediction", clip=False)
print("v t=300 n=10 prev", [f32(x) for x in prev.flatten()])
print("randn(8) seed 0", [f32(x) for x in torch.randn((1, 2, 2, 2), generator=torch.Generator().manual_seed(0)).flatten()])

# ---------------------------------------------------------------- DDIM step
def ddim_step(acp_, final, n, model_output, t, sample, eta=0.0, gen=None, pred="epsilon", clip=False, thresholding=False, T=1000):
    prev_t = t - T // n
    a_t = acp_[t]
    a_prev = acp_[prev_t] if prev_t >= 0 else final
    b_t = 1 - a_t
    if pred == "epsilon":
        x0 = (sample - b_t ** (0.5) * model_output) / a_t ** (0.5)
        eps = model_output
    elif pred == "sample":
        x0 = model_output
        eps = (sample - a_t ** (0.5) * x0) / b_t ** (0.5)
    else:
        x0 = (a_t**0.5) * sample - (b_t**0.5) * model_output
        eps = (a_t**0.5) * model_output + (b_t**0.5) * sample
    if thresholding:
        x0 = threshold(x0)
    elif clip:
        x0 = x0.clamp(-1, 1)
    b_prev = 1 - a_prev
    variance = (b_prev / b_t) * (1 - a_t / a_prev)
    std = eta * variance ** (0.5)
    direction = (1 - a_prev - std**2) ** (0.5) * eps
    prev = a_prev ** (0.5) * x0 + direction
    if eta > 0:
        noise = torch.randn(model_output.shape, generator=gen, dtype=model_output.dtype)
        prev = prev + std * noise
    return prev, variance

print("// ---- DDIM (SD config)")
a_sd = acp(make_betas("scaled_linear", 0.00085, 0.012))
final_sd = a_sd[0]
prev, v = ddim_step(a_sd, final_sd, 50, m, 981, s)
print("eta0 t=981 n=50", [f32(x) for x in prev.flatten()], "var", f32(v))
prev, v = ddim_step(a_sd, final_sd, 50, m, 1, s)
print("eta0 t=1 n=50 (final alpha)", [f32(x) for x in prev.flatten()], "var", f32(v))
prev, v = ddim_step(a_sd, final_sd, 50, m, 501, s, eta=1.0, gen=torch.Generator().manual_seed(0))
print("eta1 t=501 n=50", [f32(x) for x in prev.flatten()], "var", f32(v))
prev, v = ddim_step(a_sd, final_sd, 50, m, 501, s, pred="v_prediction")
print("v eta0 t=501 n=50", [f32(x) for x in prev.flatten()])
prev, v = ddim_step(a_sd, final_sd, 50, m * 4, 501, s, pred="sample", thresholding=True)
print("sample thresholding t=501", [f32(x) for x in prev.flatten()])
big = torch.arange(16, dtype=torch.float32).reshape(2, 2, 2, 2) * 0.25 - 2
print("threshold(ratio .9, max 1.5)", [f32(x) for x in threshold(big, 0.9, 1.5).flatten()])

# ---------------------------------------------------------------- Euler ancestral
def euler_set(acp_, n, spacing="linspace", offset=0, T=1000):
    if spacing == "linspace":
        ts = np.linspace(0, T - 1, n, dtype=float)[::-1].copy()
    elif spacing == "leading":
        r = T // n
        ts = (np.arange(0, n) * r).round()[::-1].copy().astype(float)
        ts += offset
    else:
        r = T / n
        ts = (np.arange(T, 0, -r)).round().copy().astype(float)
        ts -= 1
    sig = np.array(((1 - acp_) / acp_) ** 0.5)
    sig = np.interp(ts, np.arange(0, len(sig)), sig)
    sig = np.concatenate([sig, [0.0]]).astype(np.float32)
    return torch.from_numpy(ts), torch.from_numpy(sig)

print("// ---- Euler ancestral (SD betas)")
ts, sig = euler_set(a_sd, 30)
print("ts30", [f64(x) for x in ts])
print("sig30", [f32(x) for x in sig])
print("init linspace", f32(sig.max()))
ts_l, sig_l = euler_set(a_sd, 30, "leading", 1)
print("ts30 leading", [f64(x) for x in ts_l])
print("init leading", f32((sig_l.max() ** 2 + 1) ** 0.5))

def euler_step(ts, sig, model_output, timestep, sample, gen, pred="epsilon"):
    i = (ts == timestep).nonzero().item()
    sigma = sig[i]
    if pred == "epsilon":
        x0 = sample - sigma * model_output
    else:
        x0 = model_output * (-sigma / (sigma**2 + 1) ** 0.5) + (sample / (sigma**2 + 1))
    sf = sig[i]
    st = sig[i + 1]
    up = (st**2 * (sf**2 - st**2) / sf**2) ** 0.5
    down = (st**2 - up**2) ** 0.5
    d = (sample - x0) / sigma
    dt = down - sigma
    prev = sample + d * dt
    noise = torch.randn(model_output.shape, dtype=model_output.dtype, generator=gen)
    return prev + noise * up, up, down

g = torch.Generator().manual_seed(0)
x = s * sig.max()
out = []
for k in range(2):
    t = ts[k]
    inp = x / ((sig[k] ** 2 + 1) ** 0.5)
    x, up, down = euler_step(ts, sig, m, t, x, g)
    out.append(([f32(v) for v in x.flatten()], f32(up), f32(down), [f32(v) for v in inp.flatten()]))
for o in out:
    print("euler step", o)
g = torch.Generator().manual_seed(0)
x, up, down = euler_step(ts, sig, m, ts[29], s, g)
print("euler last step", [f32(v) for v in x.flatten()], f32(up), f32(down))
g = torch.Generator().manual_seed(0)
x, up, down = euler_step(ts, sig, m, ts[10], s, g, pred="v_prediction")
print("euler v step 10", [f32(v) for v in x.flatten()])

# ---------------------------------------------------------------- DPM-Solver++ 2M
class Dpm:
    def __init__(self, acp_, order=2, karras=False, spacing="linspace", offset=0, lower_order_final=True, solver_type="midpoint", pred="epsilon", T=1000):
        self.acp = acp_
        self.alpha_t = torch.sqrt(acp_)
        self.sigma_t = torch.sqrt(1 - acp_)
        self.lambda_t = torch.log(self.alpha_t) - torch.log(self.sigma_t)
        self.order, self.karras, self.spacing, self.offset = order, karras, spacing, offset
        self.lof, self.solver_type, self.pred, self.T = lower_order_final, solver_type, pred, T

    def set_timesteps(self, n):
        clipped_idx = torch.searchsorted(torch.flip(self.lambda_t, [0]), -float("inf"))
        last = ((self.T - clipped_idx).numpy()).item()
        if self.spacing == "linspace":
            t = np.linspace(0, last - 1, n + 1).round()[::-1][:-1].copy().astype(np.int64)
        elif self.spacing == "leading":
            r = last // (n + 1)
            t = (np.arange(0, n + 1) * r).round()[::-1][:-1].copy().astype(np.int64)
            t += self.offset
        else:
            r = self.T / n
            t = np.arange(last, 0, -r).round().copy().astype(np.int64)
            t -= 1
        sigmas = np.array(((1 - self.acp) / self.acp) ** 0.5)
        if self.karras:
            log_sigmas = np.log(sigmas)
            sigmas = self.to_karras(sigmas, n)
            t = np.array([self.sigma_to_t(s_, log_sigmas) for s_ in sigmas]).round()
            t = np.flip(t).copy().astype(np.int64)
        self.sigmas = sigmas
        _, ui = np.unique(t, return_index=True)
        t = t[np.sort(ui)]
        self.timesteps = torch.from_numpy(t)
        self.outputs = [None] * self.order
        self.lon = 0

    def sigma_to_t(self, sigma, log_sigmas):
        log_sigma = np.log(sigma)
        dists = log_sigma - log_sigmas[:, np.newaxis]
        low_idx = np.cumsum((dists >= 0), axis=0).argmax(axis=0).clip(max=log_sigmas.shape[0] - 2)
        high_idx = low_idx + 1
        low = log_sigmas[low_idx]
        high = log_sigmas[high_idx]
        w = (low - log_sigma) / (low - high)
        w = np.clip(w, 0, 1)
        t = (1 - w) * low_idx + w * high_idx
        return t.reshape(sigma.shape)

    def to_karras(self, in_sigmas, n):
        sigma_min = in_sigmas[-1].item()
        sigma_max = in_sigmas[0].item()
        rho = 7.0
        ramp = np.linspace(0, 1, n)
        return (sigma_max ** (1 / rho) + ramp * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho

    def convert(self, mo, t, sample):
        if self.pred == "epsilon":
            return (sample - self.sigma_t[t] * mo) / self.alpha_t[t]
        if self.pred == "sample":
            return mo
        return self.alpha_t[t] * sample - self.sigma_t[t] * mo

    def step(self, mo, t, sample):
        si = (self.timesteps == t).nonzero()
        si = len(self.timesteps) - 1 if len(si) == 0 else si.item()
        prev_t = 0 if si == len(self.timesteps) - 1 else self.timesteps[si + 1]
        lof = (si == len(self.timesteps) - 1) and self.lof and len(self.timesteps) < 15
        mo = self.convert(mo, t, sample)
        for i in range(self.order - 1):
            self.outputs[i] = self.outputs[i + 1]
        self.outputs[-1] = mo
        if self.order == 1 or self.lon < 1 or lof:
            lt, ls = self.lambda_t[prev_t], self.lambda_t[t]
            at = self.alpha_t[prev_t]
            st, ss = self.sigma_t[prev_t], self.sigma_t[t]
            h = lt - ls
            x = (st / ss) * sample - (at * (torch.exp(-h) - 1.0)) * mo
        else:
            s1 = self.timesteps[si - 1]
            m0, m1 = self.outputs[-1], self.outputs[-2]
            lt, l0, l1 = self.lambda_t[prev_t], self.lambda_t[t], self.lambda_t[s1]
            at = self.alpha_t[prev_t]
            st, s0 = self.sigma_t[prev_t], self.sigma_t[t]
            h, h0 = lt - l0, l0 - l1
            r0 = h0 / h
            D0, D1 = m0, (1.0 / r0) * (m0 - m1)
            if self.solver_type == "midpoint":
                x = (st / s0) * sample - (at * (torch.exp(-h) - 1.0)) * D0 - 0.5 * (at * (torch.exp(-h) - 1.0)) * D1
            else:
                x = (st / s0) * sample - (at * (torch.exp(-h) - 1.0)) * D0 + (at * ((torch.exp(-h) - 1.0) / h + 1.0)) * D1
        if self.lon < self.order:
            self.lon += 1
        return x

print("// ---- DPM-Solver++ 2M (SD betas)")
d = Dpm(a_sd)
d.set_timesteps(30)
print("ts30", list(d.timesteps.numpy()))
print("lambda", [f32(d.lambda_t[i]) for i in [0, 1, 500, 999]])
x = s.clone()
res = []
for k in range(3):
    t = d.timesteps[k]
    mo = m * (1 + 0.1 * k)
    x = d.step(mo, t, x)
    res.append([f32(v) for v in x.flatten()])
for r in res:
    print("dpm step", r)
dk = Dpm(a_sd, karras=True)
dk.set_timesteps(30)
print("karras ts30", list(dk.timesteps.numpy()))
print("karras sig30", [f64(v) for v in dk.sigmas[[0, 1, 14, 28, 29]]])
dk.set_timesteps(10)
x = s.clone()
for k, t in enumerate(dk.timesteps):
    x = dk.step(m * (1 - 0.05 * k), t, x)
print("karras10 ts", list(dk.timesteps.numpy()))
print("karras10 final", [f32(v) for v in x.flatten()])
dh = Dpm(a_sd, solver_type="heun", pred="v_prediction", spacing="leading", offset=1)
dh.set_timesteps(8)
x = s.clone()
for k, t in enumerate(dh.timesteps):
    x = dh.step(m * (1 - 0.05 * k), t, x)
print("heun v leading8 ts", list(dh.timesteps.numpy()))
print("heun v leading8 final", [f32(v) for v in x.flatten()])
dt_ = Dpm(a_sd, spacing="trailing")
dt_.set_timesteps(30)
print("trailing ts30", list(dt_.timesteps.numpy()))

# ---------------------------------------------------------------- add_noise
print("// ---- add_noise")
x0 = torch.arange(16, dtype=torch.float32).reshape(2, 2, 2, 2) / 8 - 1
nz = torch.ones(2, 2, 2, 2) * 0.5
tt = torch.tensor([10, 900])
sa = (a_lin[tt] ** 0.5).flatten()
while len(sa.shape) < 4:
    sa = sa.unsqueeze(-1)
so = ((1 - a_lin[tt]) ** 0.5).flatten()
while len(so.shape) < 4:
    so = so.unsqueeze(-1)
print("add_noise", [f32(v) for v in (sa * x0 + so * nz).flatten()])

# ---------------------------------------------------------------- PNDM (PLMS with skip_prk_steps, F-PNDM without)
class Pndm:
    def __init__(self, acp_, skip_prk=True, spacing="leading", offset=0, set_alpha_to_one=False, pred="epsilon", T=1000):
        self.acp, self.skip_prk, self.spacing, self.offset, self.pred, self.T = acp_, skip_prk, spacing, offset, pred, T
        self.final = torch.tensor(1.0) if set_alpha_to_one else acp_[0]

    def set_timesteps(self, n):
        T = self.T
        self.n = n
        if self.spacing == "linspace":
            ts = np.linspace(0, T - 1, n).round().astype(np.int64)
        elif self.spacing == "leading":
            r = T // n
            ts = (np.arange(0, n) * r).round()
            ts += self.offset
        else:
            r = T / n
            ts = np.round(np.arange(T, 0, -r))[::-1].astype(np.int64)
            ts -= 1
        if self.skip_prk:
            self.prk = np.array([])
            self.plms = np.concatenate([ts[:-1], ts[-2:-1], ts[-1:]])[::-1].copy()
        else:
            prk = np.array(ts[-4:]).repeat(2) + np.tile(np.array([0, T // n // 2]), 4)
            self.prk = (prk[:-1].repeat(2)[1:-1])[::-1].copy()
            self.plms = ts[:-3][::-1].copy()
        self.timesteps = torch.from_numpy(np.concatenate([self.prk, self.plms]).astype(np.int64))
        self.ets, self.counter, self.cur_model_output, self.cur_sample = [], 0, 0, None

    def step(self, mo, t, sample):
        if self.counter < len(self.prk) and not self.skip_prk:
            return self.step_prk(mo, int(t), sample)
        return self.step_plms(mo, int(t), sample)

    def step_prk(self, mo, t, sample):
        diff = 0 if self.counter % 2 else self.T // self.n // 2
        prev_t = t - diff
        t = self.prk[self.counter // 4 * 4]
        if self.counter % 4 == 0:
            self.cur_model_output += 1 / 6 * mo
            self.ets.append(mo)
            self.cur_sample = sample
        elif (self.counter - 1) % 4 == 0:
            self.cur_model_output += 1 / 3 * mo
        elif (self.counter - 2) % 4 == 0:
            self.cur_model_output += 1 / 3 * mo
        elif (self.counter - 3) % 4 == 0:
            mo = self.cur_model_output + 1 / 6 * mo
            self.cur_model_output = 0
        cur = self.cur_sample if self.cur_sample is not None else sample
        prev = self.prev_sample(cur, int(t), int(prev_t), mo)
        self.counter += 1
        return prev

    def step_plms(self, mo, t, sample):
        prev_t = t - self.T // self.n
        if self.counter != 1:
            self.ets = self.ets[-3:]
            self.ets.append(mo)
        else:
            prev_t = t
            t = t + self.T // self.n
        if len(self.ets) == 1 and self.counter == 0:
            self.cur_sample = sample
        elif len(self.ets) == 1 and self.counter == 1:
            mo = (mo + self.ets[-1]) / 2
            sample = self.cur_sample
            self.cur_sample = None
        elif len(self.ets) == 2:
            mo = (3 * self.ets[-1] - self.ets[-2]) / 2
        elif len(self.ets) == 3:
            mo = (23 * self.ets[-1] - 16 * self.ets[-2] + 5 * self.ets[-3]) / 12
        else:
            mo = (1 / 24) * (55 * self.ets[-1] - 59 * self.ets[-2] + 37 * self.ets[-3] - 9 * self.ets[-4])
        prev = self.prev_sample(sample, t, prev_t, mo)
        self.counter += 1
        return prev

    def prev_sample(self, sample, t, prev_t, mo):
        a_t = self.acp[t]
        a_prev = self.acp[prev_t] if prev_t >= 0 else self.final
        b_t = 1 - a_t
        b_prev = 1 - a_prev
        if self.pred == "v_prediction":
            mo = (a_t**0.5) * mo + (b_t**0.5) * sample
        coeff = (a_prev / a_t) ** (0.5)
        denom = a_t * b_prev ** (0.5) + (a_t * b_t * a_prev) ** (0.5)
        return coeff * sample - (a_prev - a_t) * mo / denom

def pndm_run(p, n):
    p.set_timesteps(n)
    x = s.clone()
    for k, t in enumerate(p.timesteps):
        x = p.step(m * (1 - 0.05 * k), t, x)
    return x

print("// ---- PNDM")
p = Pndm(a_sd, offset=1)
p.set_timesteps(50)
print("plms ts50", list(p.timesteps.numpy()))
print("plms10 final", [f32(v) for v in pndm_run(Pndm(a_sd, offset=1), 10).flatten()])
p = Pndm(a_sd, skip_prk=False, offset=1)
p.set_timesteps(10)
print("prk ts10", list(p.timesteps.numpy()))
print("prk10 final", [f32(v) for v in pndm_run(Pndm(a_sd, skip_prk=False, offset=1), 10).flatten()])
print("plms v trailing7 final", [f32(v) for v in pndm_run(Pndm(a_sd, spacing="trailing", pred="v_prediction", set_alpha_to_one=True), 7).flatten()])
p = Pndm(a_sd, spacing="linspace")
p.set_timesteps(7)
print("plms linspace ts7", list(p.timesteps.numpy()))
p = Pndm(a_sd, offset=1)
p.set_timesteps(50)
x = p.step(m, p.timesteps[0], s)
print("plms first step", [f32(v) for v in x.flatten()])
x = p.step(m * 0.5, p.timesteps[1], x)
print("plms second step", [f32(v) for v in x.flatten()])

# ---------------------------------------------------------------- Euler (EulerDiscreteScheduler, linear interpolation)
def euler_discrete_set(acp_, n, spacing="linspace", offset=0, karras=False, T=1000):
    ts, _ = euler_set(acp_, n, spacing, offset, T)
    ts = ts.numpy()
    sigmas = np.array(((1 - acp_) / acp_) ** 0.5)
    log_sigmas = np.log(sigmas)
    sigmas = np.interp(ts, np.arange(0, len(sigmas)), sigmas)
    if karras:
        sigma_min = sigmas[-1].item()
        sigma_max = sigmas[0].item()
        rho = 7.0
        ramp = np.linspace(0, 1, n)
        sigmas = (sigma_max ** (1 / rho) + ramp * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
        ts = np.array([Dpm.sigma_to_t(None, sg, log_sigmas) for sg in sigmas])
    sigmas = np.concatenate([sigmas, [0.0]]).astype(np.float32)
    return torch.from_numpy(ts), torch.from_numpy(sigmas)

def euler_discrete_step(ts, sig, mo, timestep, sample, pred="epsilon"):
    i = (ts == timestep).nonzero().item()
    sigma = sig[i]
    sigma_hat = sigma * (0.0 + 1)
    if pred == "epsilon":
        x0 = sample - sigma_hat * mo
    elif pred == "v_prediction":
        x0 = mo * (-sigma / (sigma**2 + 1) ** 0.5) + (sample / (sigma**2 + 1))
    else:
        x0 = mo
    d = (sample - x0) / sigma_hat
    dt = sig[i + 1] - sigma_hat
    return sample + d * dt

def euler_run(ts, sig, pred="epsilon"):
    x = s * sig.max()
    for k, t in enumerate(ts):
        inp = x / ((sig[k] ** 2 + 1) ** 0.5)
        x = euler_discrete_step(ts, sig, m * (1 - 0.05 * k), t, x, pred)
    return x

print("// ---- Euler")
ts, sig = euler_discrete_set(a_sd, 10, karras=True)
print("euler karras10 ts", [f64(v) for v in ts])
print("euler karras10 sig", [f32(v) for v in sig])
print("euler karras10 final", [f32(v) for v in euler_run(ts, sig).flatten()])
ts, sig = euler_discrete_set(a_sd, 10)
print("euler10 final", [f32(v) for v in euler_run(ts, sig).flatten()])
ts, sig = euler_discrete_set(a_sd, 8, "leading", 1)
print("euler v leading8 final", [f32(v) for v in euler_run(ts, sig, "v_prediction").flatten()])
print("euler sample leading8 final", [f32(v) for v in euler_run(ts, sig, "sample").flatten()])
