"""The standalone NSF-HiFiGAN vocoder (openvpi's pretrained `nsf_hifigan/model`) that so-vits-svc's
shallow diffusion and enhancer use: log-mel in, audio out, driven by f0.

It is `hifigan.Generator` with nine harmonics, a biased output conv and its own sine source: phases are
accumulated at frame rate and interpolated, so a harmonic's random start phase is counted once per
upsampled sample of the first frame (as the pretrained model was trained). Its mel is computed here too
(`log_mel`), frames uncentred and padded half a window minus half a hop each side. No files are opened here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, Mapping

import torch
from torch import nn
from torch.nn import functional as F

from haysay.nodes.vc.vits.hifigan import Generator

HARMONICS = 8
LOG10_E = 0.434294  # the "-log10" vocoder variant reads mels in log10, diffusion writes natural logs


@dataclass(frozen=True)
class NsfHifiGanConfig:
    """The fields of the vocoder's config.json that inference needs."""

    sampling_rate: int = 44100
    num_mels: int = 128
    n_fft: int = 2048
    win_size: int = 2048
    hop_size: int = 512
    fmin: float = 40.0
    fmax: float = 16000.0
    resblock: str = "1"
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2, 2)
    upsample_initial_channel: int = 512
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4, 4)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "NsfHifiGanConfig":
        def freeze(v: Any) -> Any:
            return tuple(freeze(x) for x in v) if isinstance(v, list) else v
        return cls(**{f.name: freeze(data[f.name]) for f in fields(cls) if f.name in data})


@lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> torch.Tensor:
    import librosa

    return torch.from_numpy(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)).float()


def log_mel(audio: torch.Tensor, cfg: NsfHifiGanConfig, keyshift: float = 0.0) -> torch.Tensor:
    """(b, samples) at cfg.sampling_rate -> natural-log mel (b, mels, frames), clipped at 1e-5.

    `keyshift` (semitones) stretches the analysis window, as the enhancer's adaptive key does.
    """
    factor = 2 ** (keyshift / 12)
    n_fft, win, hop = round(cfg.n_fft * factor), round(cfg.win_size * factor), cfg.hop_size
    left = (win - hop) // 2
    right = max((win - hop + 1) // 2, win - audio.shape[-1] - left)
    mode = "reflect" if right < audio.shape[-1] else "constant"  # reflect needs more samples than the pad
    y = F.pad(audio[:, None], (left, right), mode=mode)[:, 0]
    spec = torch.stft(y, n_fft, hop_length=hop, win_length=win, window=torch.hann_window(win, device=y.device),
                      center=False, normalized=False, onesided=True, return_complex=True)
    mag = torch.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-9)
    if keyshift != 0:
        size = cfg.n_fft // 2 + 1
        mag = F.pad(mag, (0, 0, 0, max(0, size - mag.shape[1])))[:, :size] * cfg.win_size / win
    basis = _mel_basis(cfg.sampling_rate, cfg.n_fft, cfg.num_mels, cfg.fmin, cfg.fmax).to(mag.device)
    return torch.log(torch.clamp(basis @ mag, min=1e-5))


@lru_cache(maxsize=16)
def _resampler(orig: int, new: int, device: str) -> nn.Module:
    import torchaudio

    # the transform builds its sinc kernel in float64 (the functional form in the audio's dtype), as so-vits does
    return torchaudio.transforms.Resample(orig, new, lowpass_filter_width=128).to(device)


def resample(audio: torch.Tensor, orig: int, new: int) -> torch.Tensor:
    """so-vits's resampler around its vocoder: windowed sinc, 128 zero crossings."""
    if orig == new:
        return audio
    return _resampler(orig, new, str(audio.device))(audio)


def vocoder_sine_source(f0: torch.Tensor, upp: int, sample_rate: int, harmonics: int = HARMONICS,
                        sine_amp: float = 0.1, noise_std: float = 0.003,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """Harmonic excitation (b, samples, harmonics+1) from frame-rate f0 (b, frames) in Hz, unvoiced = noise."""
    fn = f0.float()[..., None] * torch.arange(1, harmonics + 2, device=f0.device)
    rad = (fn / sample_rate) % 1
    start = torch.rand(fn.shape[0], fn.shape[2], device=f0.device, generator=generator)
    start[:, 0] = 0
    rad[:, 0, :] = rad[:, 0, :] + start
    # wrap points of the interpolated phase, where one cycle is subtracted to keep the running sum small
    coarse = torch.cumsum(rad.double(), 1).float() * upp
    coarse = F.interpolate(coarse.transpose(2, 1), scale_factor=upp, mode="linear", align_corners=True).transpose(2, 1)
    rad = F.interpolate(rad.transpose(2, 1), scale_factor=upp, mode="nearest").transpose(2, 1)
    coarse = coarse % 1
    shift = torch.zeros_like(rad)
    shift[:, 1:, :] = ((coarse[:, 1:, :] - coarse[:, :-1, :]) < 0) * -1.0
    sines = torch.sin(torch.cumsum(rad.double() + shift.double(), dim=1) * 2 * math.pi).float() * sine_amp
    uv = F.interpolate((f0.float() > 0).float()[:, None], scale_factor=upp, mode="nearest").transpose(2, 1)
    noise_amp = uv * noise_std + (1 - uv) * sine_amp / 3
    noise = noise_amp * torch.randn(sines.shape, device=f0.device, generator=generator)
    return sines * uv + noise


class VocoderSource(nn.Module):
    """Merges the vocoder's harmonic sines into one excitation channel (keys as `m_source.l_linear`)."""

    def __init__(self, sample_rate: int, harmonics: int = HARMONICS):
        super().__init__()
        self.sample_rate, self.harmonics = sample_rate, harmonics
        self.l_linear = nn.Linear(harmonics + 1, 1)

    def forward(self, f0: torch.Tensor, upp: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.tanh(self.l_linear(vocoder_sine_source(f0, upp, self.sample_rate, self.harmonics,
                                                            generator=generator)))


def nsf_hifigan_generator(cfg: NsfHifiGanConfig) -> Generator:
    """The vocoder network for `cfg` (state-dict keys as the pretrained `generator` entry, weight norm folded)."""
    gen = Generator(cfg.num_mels, cfg.resblock, list(cfg.resblock_kernel_sizes),
                    [list(d) for d in cfg.resblock_dilation_sizes], list(cfg.upsample_rates),
                    cfg.upsample_initial_channel, list(cfg.upsample_kernel_sizes), nsf=True,
                    sample_rate=cfg.sampling_rate, harmonic_num=HARMONICS, post_bias=True)
    gen.m_source = VocoderSource(cfg.sampling_rate)
    return gen


class NsfHifiGan(nn.Module):
    """Mel analysis and f0-driven synthesis at the vocoder's own rate and hop.

    `log10` marks the "nsf-hifigan-log10" variant, whose network reads log10 mels.
    """

    def __init__(self, cfg: NsfHifiGanConfig, log10: bool = False):
        super().__init__()
        self.cfg, self.log10 = cfg, log10
        self.generator = nsf_hifigan_generator(cfg)

    @property
    def sample_rate(self) -> int:
        return self.cfg.sampling_rate

    @property
    def hop_size(self) -> int:
        return self.cfg.hop_size

    def extract_mel(self, audio: torch.Tensor, sample_rate: int, keyshift: float = 0.0) -> torch.Tensor:
        """(b, samples) at sample_rate -> mel (b, frames, mels) as diffusion reads it (resampled first)."""
        audio = resample(audio, sample_rate, self.cfg.sampling_rate)
        return log_mel(audio, self.cfg, keyshift).transpose(1, 2)

    def infer(self, mel: torch.Tensor, f0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """mel (b, frames, mels) + f0 (b, >=frames) Hz -> audio (b, frames * hop)."""
        with torch.no_grad():
            c = mel.transpose(1, 2)
            if self.log10:
                c = LOG10_E * c
            return self.generator(c, f0[:, :mel.shape[1]], generator=generator)[:, 0]
