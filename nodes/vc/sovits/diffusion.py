"""so-vits-svc 4.1 shallow diffusion: a WaveNet denoiser that refines a mel spectrogram, conditioned on
content units, f0, volume and speaker.

Architecture only (no files are opened here; `diffusion_checkpoint` reads them). Module and buffer names
follow upstream's `Unit2Mel` so a `diffusion/model_*.pt` state dict loads as it is. The samplers live in
`diffusion_sampling`; `shallow_diffusion` is the inference path of upstream's `Svc.infer`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from haysay.nodes.vc.sovits.diffusion_sampling import SAMPLERS, sample

F0_SCALE = 700.0  # f0 enters as log(1 + f0/700), the mel scale's own knee


@dataclass(frozen=True)
class DiffusionConfig:
    """What `Unit2Mel` needs to be built: upstream config.yaml's `data`/`model` numbers plus the vocoder's mel bins."""

    units: int = 768          # data.encoder_out_channels
    n_spk: int = 1
    use_pitch_aug: bool = False
    mel_bins: int = 128       # the vocoder's num_mels
    n_layers: int = 20
    n_chans: int = 384
    n_hidden: int = 256
    timesteps: int = 1000
    k_step_max: int = 0       # 0 (or >= timesteps): the model was trained on the whole chain


@dataclass
class DiffusionModel:
    """A loaded diffusion model with the inference settings of its config.yaml."""

    net: "Unit2Mel"
    sample_rate: int          # data.sampling_rate
    block_size: int           # data.block_size: the hop its frames are at
    encoder: str              # data.encoder: the speech encoder its units come from
    unit_interpolate_mode: str
    speedup: int              # infer.speedup
    method: str               # infer.method
    vocoder_type: str         # vocoder.type: "nsf-hifigan" or "nsf-hifigan-log10"
    vocoder_ckpt: str         # vocoder.ckpt, relative to the so-vits folder as upstream writes it
    speakers: dict[str, int]


class ResidualBlock(nn.Module):
    def __init__(self, hidden: int, channels: int):
        super().__init__()
        self.channels = channels
        self.dilated_conv = nn.Conv1d(channels, 2 * channels, 3, padding=1)
        self.diffusion_projection = nn.Linear(channels, channels)
        self.conditioner_projection = nn.Conv1d(hidden, 2 * channels, 1)
        self.output_projection = nn.Conv1d(channels, 2 * channels, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.dilated_conv(x + self.diffusion_projection(step)[..., None]) + self.conditioner_projection(cond)
        gate, filt = y.split(self.channels, dim=1)
        residual, skip = self.output_projection(torch.sigmoid(gate) * torch.tanh(filt)).split(self.channels, dim=1)
        return (x + residual) / math.sqrt(2.0), skip


def step_embedding(steps: torch.Tensor, dims: int) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional, as DPM-Solver asks) diffusion steps: (b,) -> (b, dims)."""
    half = dims // 2
    freqs = torch.exp(torch.arange(half, device=steps.device) * -(math.log(10000) / (half - 1)))
    angles = steps.float()[:, None] * freqs[None]
    return torch.cat((angles.sin(), angles.cos()), dim=-1)


class WaveNet(nn.Module):
    """Predicts the noise in a normalised mel (b, 1, mel, t) at diffusion step (b,) given the condition (b, hidden, t)."""

    def __init__(self, mel_bins: int = 128, n_layers: int = 20, n_chans: int = 384, n_hidden: int = 256):
        super().__init__()
        self.n_chans = n_chans
        self.input_projection = nn.Conv1d(mel_bins, n_chans, 1)
        self.mlp = nn.Sequential(nn.Linear(n_chans, n_chans * 4), nn.Mish(), nn.Linear(n_chans * 4, n_chans))
        self.residual_layers = nn.ModuleList(ResidualBlock(n_hidden, n_chans) for _ in range(n_layers))
        self.skip_projection = nn.Conv1d(n_chans, n_chans, 1)
        self.output_projection = nn.Conv1d(n_chans, mel_bins, 1)

    def forward(self, spec: torch.Tensor, step: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.input_projection(spec.squeeze(1)))
        emb = self.mlp(step_embedding(step.reshape(-1).expand(spec.shape[0]), self.n_chans))
        skips = []
        for layer in self.residual_layers:
            x, skip = layer(x, cond, emb)
            skips.append(skip)
        x = torch.stack(skips).sum(0) / math.sqrt(len(self.residual_layers))
        return self.output_projection(F.relu(self.skip_projection(x)))[:, None]


class GaussianDiffusion(nn.Module):
    """The linear-beta DDPM schedule (buffers as upstream stores them) around a denoiser; mel range [-12, 2] -> [-1, 1]."""

    def __init__(self, denoise_fn: nn.Module, mel_bins: int = 128, timesteps: int = 1000, k_step: int = 1000,
                 max_beta: float = 0.02, spec_min: float = -12.0, spec_max: float = 2.0):
        super().__init__()
        self.denoise_fn, self.mel_bins = denoise_fn, mel_bins
        betas = np.linspace(1e-4, max_beta, timesteps)
        alphas_cumprod = np.cumprod(1.0 - betas)
        prev = np.append(1.0, alphas_cumprod[:-1])
        self.num_timesteps = timesteps
        self.k_step = k_step if 0 < k_step < timesteps else timesteps
        posterior_variance = betas * (1.0 - prev) / (1.0 - alphas_cumprod)
        buffers = {
            "betas": betas, "alphas_cumprod": alphas_cumprod, "alphas_cumprod_prev": prev,
            "sqrt_alphas_cumprod": np.sqrt(alphas_cumprod),
            "sqrt_one_minus_alphas_cumprod": np.sqrt(1.0 - alphas_cumprod),
            "log_one_minus_alphas_cumprod": np.log(1.0 - alphas_cumprod),
            "sqrt_recip_alphas_cumprod": np.sqrt(1.0 / alphas_cumprod),
            "sqrt_recipm1_alphas_cumprod": np.sqrt(1.0 / alphas_cumprod - 1),
            "posterior_variance": posterior_variance,
            "posterior_log_variance_clipped": np.log(np.maximum(posterior_variance, 1e-20)),
            "posterior_mean_coef1": betas * np.sqrt(prev) / (1.0 - alphas_cumprod),
            "posterior_mean_coef2": (1.0 - prev) * np.sqrt(1.0 - betas) / (1.0 - alphas_cumprod),
        }
        for name, value in buffers.items():
            self.register_buffer(name, torch.tensor(value, dtype=torch.float32))
        self.register_buffer("spec_min", torch.tensor([[[spec_min]]], dtype=torch.float32))
        self.register_buffer("spec_max", torch.tensor([[[spec_max]]], dtype=torch.float32))

    def norm_spec(self, mel: torch.Tensor) -> torch.Tensor:
        return (mel - self.spec_min) / (self.spec_max - self.spec_min) * 2 - 1

    def denorm_spec(self, x: torch.Tensor) -> torch.Tensor:
        return (x + 1) / 2 * (self.spec_max - self.spec_min) + self.spec_min

    def q_sample(self, x0: torch.Tensor, t: int, noise: torch.Tensor) -> torch.Tensor:
        """Diffuse a clean normalised mel to step t (0-based) in one jump."""
        return self.sqrt_alphas_cumprod[t] * x0 + self.sqrt_one_minus_alphas_cumprod[t] * noise


class Unit2Mel(nn.Module):
    """Embeds units, log-f0, volume, speaker (and an optional pitch-shift key) into the denoiser's condition."""

    def __init__(self, config: DiffusionConfig):
        super().__init__()
        c = config
        self.config = c
        self.unit_embed = nn.Linear(c.units, c.n_hidden)
        self.f0_embed = nn.Linear(1, c.n_hidden)
        self.volume_embed = nn.Linear(1, c.n_hidden)
        self.aug_shift_embed = nn.Linear(1, c.n_hidden, bias=False) if c.use_pitch_aug else None
        self.n_spk = c.n_spk
        if c.n_spk > 1:
            self.spk_embed = nn.Embedding(c.n_spk, c.n_hidden)
        self.timesteps = c.timesteps
        self.k_step_max = c.k_step_max if 0 < c.k_step_max < c.timesteps else c.timesteps
        self.decoder = GaussianDiffusion(WaveNet(c.mel_bins, c.n_layers, c.n_chans, c.n_hidden),
                                         c.mel_bins, c.timesteps, self.k_step_max)

    def condition(self, units: torch.Tensor, f0: torch.Tensor, volume: torch.Tensor,
                  speaker: int | torch.Tensor = 0, aug_shift: torch.Tensor | None = None) -> torch.Tensor:
        """(b, t, units), (b, t) Hz, (b, t) RMS -> (b, hidden, t).

        `speaker` is an id, a (n_spk,) weight vector mixing the speaker embeddings (upstream's spk_mix_dict),
        or (t, n_spk) weights per frame (upstream's spk_mix; its own diffusion path for that fails with
        a shape error, so this is the weighted sum it describes, not a reproduction).
        """
        x = self.unit_embed(units) + self.f0_embed(torch.log1p(f0[..., None] / F0_SCALE)) \
            + self.volume_embed(volume[..., None])
        if self.n_spk > 1:
            weights = torch.as_tensor(speaker, device=units.device)
            if weights.dim() == 0:
                if not 0 <= int(weights) < self.n_spk:
                    raise ValueError(f"speaker id {int(weights)} is outside this diffusion model's {self.n_spk} speakers")
                x = x + self.spk_embed(weights.long().reshape(1, 1))
            else:  # (n_spk,) fixed or (t, n_spk) per-frame mix weights
                x = x + weights.to(x.dtype) @ self.spk_embed.weight
        if self.aug_shift_embed is not None and aug_shift is not None:
            x = x + self.aug_shift_embed(aug_shift[..., None] / 5)
        return x.transpose(1, 2)


def shallow_diffusion(model: DiffusionModel | Unit2Mel, mel: torch.Tensor | None, units: torch.Tensor,
                      f0: torch.Tensor, volume: torch.Tensor, speaker: int | torch.Tensor = 0, k_step: int = 100,
                      method: str | None = None, speedup: int | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Refine a mel (b, t, mel_bins) by diffusing it k_step steps and denoising back; returns the new mel.

    As upstream's `Svc.infer`: units (b, t, dims), f0 (b, t) in Hz, volume (b, t) (the RMS envelope of the
    audio the mel came from), all at the mel's frame rate. `method` is one of `SAMPLERS`; `speedup` strides
    the steps, and 1 runs the plain DDPM chain; both default to the model config's infer section
    (upstream's template: dpm-solver++, 10). k_step 0 returns `mel`
    unchanged (upstream fails there). With `mel` None the model generates from pure noise over its whole
    chain (upstream's only_diffusion), which only a model trained on all steps (k_step_max 0) can do.
    `generator` draws the diffusion noise (None: torch's global generator).
    """
    if isinstance(model, DiffusionModel):
        method, speedup, model = method or model.method, speedup or model.speedup, model.net
    method, speedup = method or "dpm-solver++", speedup or 10
    if method not in SAMPLERS:
        raise ValueError(f"unknown diffusion sampler {method!r}; use one of {', '.join(SAMPLERS)}")
    diff = model.decoder
    if mel is not None:
        if k_step <= 0:
            return mel
        if k_step > model.k_step_max:
            raise ValueError(f"k_step {k_step} is beyond the {model.k_step_max} steps this diffusion model was trained on")
        if mel.shape[1] != units.shape[1]:
            raise ValueError(f"the mel has {mel.shape[1]} frames but the units {units.shape[1]}")
    elif model.k_step_max != model.timesteps:
        raise ValueError("this diffusion model was trained for shallow diffusion only "
                         f"(k_step_max {model.k_step_max}); it needs a mel to refine")
    with torch.no_grad():
        cond = model.condition(units.float(), f0.float(), volume.float(), speaker)  # fp32, as upstream casts
        shape = (cond.shape[0], 1, diff.mel_bins, cond.shape[2])
        noise = torch.randn(shape, generator=generator, device=cond.device)
        if mel is None:
            steps, x = diff.k_step, noise
        else:
            steps = k_step
            x = diff.q_sample(diff.norm_spec(mel.float()).transpose(1, 2)[:, None], steps - 1, noise)
        x = sample(diff, x, cond, steps, method, speedup, generator)
        return diff.denorm_spec(x.squeeze(1).transpose(1, 2))


def refine_audio(model: DiffusionModel | Unit2Mel, vocoder, audio: torch.Tensor, sample_rate: int,
                 units: torch.Tensor, f0: torch.Tensor, volume: torch.Tensor, speaker: int | torch.Tensor = 0,
                 k_step: int = 100, method: str | None = None, speedup: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Upstream's whole shallow-diffusion block: the synthesizer's audio (b, samples) -> its vocoder mel ->
    `shallow_diffusion` -> the vocoder again, driven by the same f0; returns audio (b, frames * hop) at the
    vocoder's rate. `vocoder` is an `NsfHifiGan`; units, f0 and volume are at its frame rate.
    """
    mel = vocoder.extract_mel(audio, sample_rate)
    mel = shallow_diffusion(model, mel, units, f0, volume, speaker, k_step, method, speedup, generator)
    return vocoder.infer(mel, f0, generator)
