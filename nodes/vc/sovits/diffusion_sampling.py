"""Reverse-diffusion samplers for so-vits-svc's shallow diffusion, as its 4.1 inference runs them.

`sample` walks a normalised mel (b, 1, mel, t) from step `steps` back to 0. With speedup 1 it is the plain
DDPM chain (noise drawn every step); otherwise the chosen deterministic solver takes `steps // speedup`
strides: DDIM, PNDM (pseudo linear multistep), DPM-Solver / DPM-Solver++ (multistep, order 2, uniform
time, over the schedule's first `steps` betas as a discrete-time VP SDE), or UniPC (bh2 multistep, order 2).
The solver formulas are the published ones (Lu et al. 2022; Zhao et al. 2023), written here for this model.
"""
from __future__ import annotations

from typing import Callable

import torch

SAMPLERS = ("dpm-solver++", "dpm-solver", "unipc", "ddim", "pndm")
_CLIP_LAMBDA = -5.1  # the solvers' log-SNR floor: steps noisier than this are cut from the schedule

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def sample(diff, x: torch.Tensor, cond: torch.Tensor, steps: int, method: str, speedup: int,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Denoise x (at 0-based step steps-1) to a clean normalised mel with `diff`'s denoiser and schedule."""
    def eps(x_: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return diff.denoise_fn(x_, t.reshape(-1).expand(x_.shape[0]), cond)

    if speedup <= 1:
        return _ddpm(diff, eps, x, steps, generator)
    if method in ("dpm-solver", "dpm-solver++", "unipc"):
        n = steps // speedup
        if n < 2:
            raise ValueError(f"{method} needs at least 2 solver steps: k_step {steps} with speedup {speedup} "
                             f"gives {n}; raise k_step or lower the speedup")
        sched = _VPSchedule(diff.betas[:steps], clip=method != "unipc")  # UniPC's schedule is never clipped
        if method == "unipc":
            return _unipc(sched, eps, x, n)
        return _dpm_solver(sched, eps, x, n, data_prediction=method == "dpm-solver++")
    if method == "ddim":
        for i in reversed(range(0, steps, speedup)):
            x = _ddim_step(diff, eps, x, i, speedup)
        return x
    if method == "pndm":
        history: list[torch.Tensor] = []
        for i in reversed(range(0, steps, speedup)):
            x = _plms_step(diff, eps, x, i, speedup, history)
        return x
    raise ValueError(f"unknown diffusion sampler {method!r}; use one of {', '.join(SAMPLERS)}")


def _step(i: int, x: torch.Tensor) -> torch.Tensor:
    return torch.full((x.shape[0],), i, device=x.device, dtype=torch.long)


def _ddpm(diff, eps: Denoiser, x: torch.Tensor, steps: int, generator) -> torch.Tensor:
    for i in reversed(range(steps)):
        x0 = (diff.sqrt_recip_alphas_cumprod[i] * x - diff.sqrt_recipm1_alphas_cumprod[i] * eps(x, _step(i, x)))
        x0 = x0.clamp(-1.0, 1.0)
        mean = diff.posterior_mean_coef1[i] * x0 + diff.posterior_mean_coef2[i] * x
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        x = mean + (i > 0) * (0.5 * diff.posterior_log_variance_clipped[i]).exp() * noise
    return x


def _ddim_step(diff, eps: Denoiser, x: torch.Tensor, i: int, interval: int) -> torch.Tensor:
    a_t, a_prev = diff.alphas_cumprod[i], diff.alphas_cumprod[max(i - interval, 0)]
    e = eps(x, _step(i, x))
    return a_prev.sqrt() * (x / a_t.sqrt() + (((1 - a_prev) / a_prev).sqrt() - ((1 - a_t) / a_t).sqrt()) * e)


def _plms_step(diff, eps: Denoiser, x: torch.Tensor, i: int, interval: int, history: list[torch.Tensor]):
    prev = max(i - interval, 0)

    def jump(x_: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        a_t, a_prev = diff.alphas_cumprod[i], diff.alphas_cumprod[prev]
        s_t, s_prev = a_t.sqrt(), a_prev.sqrt()
        return x_ + (a_prev - a_t) * (x_ / (s_t * (s_t + s_prev))
                                      - e / (s_t * (((1 - a_prev) * a_t).sqrt() + ((1 - a_t) * a_prev).sqrt())))

    e = eps(x, _step(i, x))
    if not history:  # a Heun-like warm-up step, then Adams-Bashforth of rising order
        e_prime = (e + eps(jump(x, e), _step(prev, x))) / 2
    elif len(history) == 1:
        e_prime = (3 * e - history[-1]) / 2
    elif len(history) == 2:
        e_prime = (23 * e - 16 * history[-1] + 5 * history[-2]) / 12
    else:
        e_prime = (55 * e - 59 * history[-1] + 37 * history[-2] - 9 * history[-3]) / 24
    history.append(e)
    del history[:-4]
    return jump(x, e_prime)


class _VPSchedule:
    """A discrete DDPM schedule seen as continuous time t in [1/N, 1] with log(alpha_t) linearly interpolated."""

    def __init__(self, betas: torch.Tensor, clip: bool = True):
        log_alpha = 0.5 * torch.log(1 - betas.float()).cumsum(0)
        if clip:
            lam = log_alpha - 0.5 * torch.log(1 - torch.exp(2 * log_alpha))
            cut = int(torch.searchsorted(torch.flip(lam, [0]).contiguous(), torch.tensor(_CLIP_LAMBDA, device=lam.device)))
            if cut > 0:
                log_alpha = log_alpha[:-cut]
        self.log_alpha = log_alpha
        self.n = self.log_alpha.numel()
        self.t_grid = torch.linspace(0.0, 1.0, self.n + 1)[1:]

    def log_mean(self, t: torch.Tensor) -> torch.Tensor:
        grid, vals = self.t_grid.to(t.device), self.log_alpha.to(t.device)
        j = torch.searchsorted(grid, t.reshape(-1)).clamp(1, self.n - 1)  # the segment [j-1, j], ends extrapolated
        x0, x1, y0, y1 = grid[j - 1], grid[j], vals[j - 1], vals[j]
        return (y0 + (t.reshape(-1) - x0) * (y1 - y0) / (x1 - x0)).reshape(t.shape)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(1.0 - torch.exp(2.0 * self.log_mean(t)))

    def lam(self, t: torch.Tensor) -> torch.Tensor:
        la = self.log_mean(t)
        return la - 0.5 * torch.log(1.0 - torch.exp(2.0 * la))

    def times(self, steps: int, device) -> torch.Tensor:
        return torch.linspace(1.0, 1.0 / self.n, steps + 1).to(device)

    def model_time(self, t: torch.Tensor) -> torch.Tensor:
        return (t - 1.0 / self.n) * self.n  # continuous t back to the denoiser's 0-based step


def _dpm_solver(s: _VPSchedule, eps: Denoiser, x: torch.Tensor, steps: int, data_prediction: bool) -> torch.Tensor:
    """Multistep DPM-Solver(++) of order 2, the last steps at lower order when there are fewer than 10."""
    def model(x_: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        e = eps(x_, s.model_time(t))
        return (x_ - s.sigma(t) * e) / torch.exp(s.log_mean(t)) if data_prediction else e

    def update(x_: torch.Tensor, ms: list[torch.Tensor], ts: list[torch.Tensor], t: torch.Tensor,
               order: int) -> torch.Tensor:
        t0, m0 = ts[-1], ms[-1]
        h = s.lam(t) - s.lam(t0)
        d1 = 0.0
        if order == 2:
            r0 = (s.lam(t0) - s.lam(ts[-2])) / h
            d1 = (m0 - ms[-2]) / r0
        if data_prediction:
            phi = torch.expm1(-h)
            alpha_t = torch.exp(s.log_mean(t))
            return s.sigma(t) / s.sigma(t0) * x_ - alpha_t * phi * m0 - 0.5 * alpha_t * phi * d1
        phi = torch.expm1(h)
        return torch.exp(s.log_mean(t) - s.log_mean(t0)) * x_ - s.sigma(t) * phi * m0 - 0.5 * s.sigma(t) * phi * d1

    grid = s.times(steps, x.device)
    ts, ms = [grid[0]], [model(x, grid[0])]
    x = update(x, ms, ts, grid[1], 1)
    ts.append(grid[1])
    ms.append(model(x, grid[1]))
    for step in range(2, steps + 1):
        order = min(2, steps + 1 - step) if steps < 10 else 2
        x = update(x, ms, ts, grid[step], order)
        ts, ms = [ts[-1], grid[step]], [ms[-1], ms[-1]]
        if step < steps:
            ms[-1] = model(x, grid[step])
    return x


def _unipc(s: _VPSchedule, eps: Denoiser, x: torch.Tensor, steps: int) -> torch.Tensor:
    """Multistep UniPC (B(h) = e^h - 1, data prediction) of order 2 with its corrector on every step but the last."""
    def model(x_: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (x_ - s.sigma(t) * eps(x_, s.model_time(t))) / torch.exp(s.log_mean(t))

    def update(x_: torch.Tensor, ms: list[torch.Tensor], ts: list[torch.Tensor], t: torch.Tensor, order: int,
               corrector: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        t0, m0 = ts[-1], ms[-1]
        lam0, lam_t = s.lam(t0), s.lam(t)
        h = lam_t - lam0
        rks, d1s = [], []
        for i in range(1, order):
            rk = (s.lam(ts[-(i + 1)]) - lam0) / h
            rks.append(rk)
            d1s.append((ms[-(i + 1)] - m0) / rk)
        rks.append(torch.ones_like(h))
        hh = -h
        h_phi_1 = torch.expm1(hh)
        h_phi_k = h_phi_1 / hh - 1
        b_h = torch.expm1(hh)
        r = torch.stack(rks)
        rows, bs, factorial = [], [], 1
        for i in range(1, order + 1):
            rows.append(r ** (i - 1))
            bs.append(h_phi_k * factorial / b_h)
            factorial *= i + 1
            h_phi_k = h_phi_k / hh - 1 / factorial
        rows_t, b = torch.stack(rows), torch.stack(bs)
        sigma_t, alpha_t = s.sigma(t), torch.exp(s.log_mean(t))
        x_base = sigma_t / s.sigma(t0) * x_ - alpha_t * h_phi_1 * m0
        if d1s:
            x_t = x_base - alpha_t * b_h * 0.5 * d1s[0]  # order 2 predictor: rhos_p = 0.5
        else:
            x_t = x_base
        model_t = None
        if corrector:
            model_t = model(x_t, t)
            if order == 1:
                rhos_c = torch.tensor([0.5], device=x_.device)
            else:
                rhos_c = torch.linalg.solve(rows_t, b)
            corr = sum(rhos_c[k] * d1s[k] for k in range(len(d1s))) if d1s else 0.0
            x_t = x_base - alpha_t * b_h * (corr + rhos_c[-1] * (model_t - m0))
        return x_t, model_t

    grid = s.times(steps, x.device)
    ts, ms = [grid[0]], [model(x, grid[0])]
    x, m = update(x, ms, ts, grid[1], 1, True)
    ts.append(grid[1])
    ms.append(m if m is not None else model(x, grid[1]))
    for step in range(2, steps + 1):
        order = min(2, steps + 1 - step)
        x, m = update(x, ms, ts, grid[step], order, corrector=step < steps)
        ts, ms = [ts[-1], grid[step]], [ms[-1], m if m is not None else ms[-1]]
    return x
