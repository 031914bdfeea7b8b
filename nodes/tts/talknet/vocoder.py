"""ControllableTalkNet's vocoding (core/vocoder.py): SortAnon/hifi-gan's Generator (the shared HiFi-GAN of
nodes/vc/vits), its WaveGlow-style denoiser at strength 35, and the "hifisr" super-resolution step that
re-vocodes the 22.05 kHz speech at 32 kHz and adds back its high band.

Audio is handled in upstream's int16 scale (x 32768) but kept as float: upstream's int16 casts only
add quantisation.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from haysay.graph_engine.models.checkpoint_limits import CheckpointError, read_config_text

MAX_WAV_VALUE = 32768.0
DENOISE_STRENGTH = 35.0
SUPERRES_CUTOFF_HZ, SUPERRES_TAPS, SUPERRES_GAIN = 10500.0, 101, 4.0


@dataclass(frozen=True)
class HifiConfig:
    """The keys of SortAnon/hifi-gan's config_*.json a generator and its mel need."""
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4)
    upsample_initial_channel: int = 512
    resblock: str = "1"
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    num_mels: int = 80
    n_fft: int = 1024
    hop_size: int = 256
    win_size: int = 1024
    sampling_rate: int = 22050
    fmin: float = 0.0
    fmax: float = 8000.0
    seed: int = 1234


# ControllableTalkNet picks these by name from the hifi-gan checkout: config_v1 for the character
# vocoders, config_32k for hifisr
CONFIG_V1 = HifiConfig()
CONFIG_32K = HifiConfig(upsample_rates=(8, 8, 4, 2), upsample_kernel_sizes=(16, 16, 8, 4),
                        upsample_initial_channel=256, n_fft=2048, hop_size=512, win_size=2048,
                        sampling_rate=32000, fmax=11025.0)


def read_hifi_config(path: str | Path, default: HifiConfig) -> HifiConfig:
    """`config.json` beside a checkpoint when there is one, else upstream's named default."""
    path = Path(path)
    if not path.is_file():
        return default
    try:
        raw = json.loads(read_config_text(path, "no config.json"))
        fields = {k: raw[k] for k in HifiConfig.__dataclass_fields__ if k in raw}
        fields = {k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
                  for k, v in fields.items()}
        cfg = HifiConfig(**{**default.__dict__, **fields, "resblock": str(fields.get("resblock", default.resblock))})
    except (ValueError, TypeError) as exc:
        raise CheckpointError(path, f"not a HiFi-GAN config: {exc}") from None
    if len(cfg.upsample_rates) != len(cfg.upsample_kernel_sizes) or cfg.upsample_initial_channel > 4096:
        raise CheckpointError(path, "upsample_rates / upsample_kernel_sizes / upsample_initial_channel do not fit")
    return cfg


def _generator(h: HifiConfig) -> nn.Module:
    from haysay.nodes.vc.vits.hifigan import Generator

    return Generator(h.num_mels, h.resblock, list(h.resblock_kernel_sizes), [list(d) for d in h.resblock_dilation_sizes],
                     list(h.upsample_rates), h.upsample_initial_channel, list(h.upsample_kernel_sizes), post_bias=True)


def _denoiser_mel(h: HifiConfig) -> torch.Tensor:
    """The random mel Denoiser(mode="normal") vocodes for its bias: upstream seeds torch with h.seed, builds
    its Generator (whose init draws from the generator) and then draws torch.randn(1, 80, 88). The same
    layers are built here in the same order, drawing the same numbers, so the same mel comes out."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(h.seed)
        nn.Conv1d(h.num_mels, h.upsample_initial_channel, 7)
        ups = [nn.ConvTranspose1d(h.upsample_initial_channel // 2 ** i, h.upsample_initial_channel // 2 ** (i + 1), k)
               for i, k in enumerate(h.upsample_kernel_sizes)]
        for i in range(len(ups)):
            ch = h.upsample_initial_channel // 2 ** (i + 1)
            for k, d in zip(h.resblock_kernel_sizes, h.resblock_dilation_sizes):
                for _ in range(2 if h.resblock == "1" else 1):  # convs1 then convs2 (ResBlock2: convs)
                    for conv in [nn.Conv1d(ch, ch, k) for _ in d]:
                        conv.weight.data.normal_(0.0, 0.01)
        post = nn.Conv1d(h.upsample_initial_channel // 2 ** len(ups), 1, 7)
        for conv in [*ups, post]:
            conv.weight.data.normal_(0.0, 0.01)
        return torch.randn((1, h.num_mels, 88))


class WaveGlowSTFT:
    """hifi-gan's stft.STFT (filter 1024, hop 256, Hann): a conv with a windowed Fourier basis and its
    pseudo-inverse, as the denoiser uses it."""

    def __init__(self, filter_length: int = 1024, hop_length: int = 256, win_length: int = 1024):
        from scipy.signal import get_window

        self.n, self.hop, self.win = filter_length, hop_length, win_length
        basis = np.fft.fft(np.eye(filter_length))
        cut = filter_length // 2 + 1
        basis = np.vstack([np.real(basis[:cut]), np.imag(basis[:cut])])
        window = np.zeros(filter_length)
        lpad = (filter_length - win_length) // 2
        window[lpad:lpad + win_length] = get_window("hann", win_length, fftbins=True)
        inverse = np.linalg.pinv(filter_length / hop_length * basis).T
        self.forward_basis = torch.tensor(basis[:, None, :] * window, dtype=torch.float32)
        self.inverse_basis = torch.tensor(inverse[:, None, :] * window, dtype=torch.float32)
        self.window_sq = window.astype(np.float32) ** 2

    def transform(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.pad(x[:, None, None], (self.n // 2, self.n // 2, 0, 0), mode="reflect")[:, 0]
        spec = F.conv1d(x, self.forward_basis, stride=self.hop)
        cut = self.n // 2 + 1
        re, im = spec[:, :cut], spec[:, cut:]
        return torch.sqrt(re ** 2 + im ** 2), torch.atan2(im, re)

    def inverse(self, mag: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        spec = torch.cat([mag * torch.cos(phase), mag * torch.sin(phase)], dim=1)
        y = F.conv_transpose1d(spec, self.inverse_basis, stride=self.hop)
        frames = mag.shape[-1]
        wss = np.zeros(self.n + self.hop * (frames - 1), dtype=np.float32)
        for i in range(frames):
            wss[i * self.hop:i * self.hop + self.n] += self.window_sq[:len(wss) - i * self.hop]
        nz = torch.from_numpy(np.where(wss > np.finfo(np.float32).tiny)[0])
        y[:, :, nz] /= torch.from_numpy(wss)[nz]
        y = y * float(self.n) / self.hop
        return y[:, :, self.n // 2:-(self.n // 2)]


class Vocoder:
    """A HiFi-GAN generator with its denoiser bias, as vocoder.HiFiGAN builds it."""

    def __init__(self, state: dict, h: HifiConfig, where: str | Path):
        from haysay.nodes.vc.safe_load import build_checked

        self.h = h
        self.net = build_checked(lambda: _generator(h), state, where).eval()
        self.stft = WaveGlowSTFT()
        with torch.no_grad():
            bias, _ = self.stft.transform(self.net(_denoiser_mel(h)).view(1, -1).float())
        self.bias = bias[:, :, :1]

    def to(self, device: str) -> "Vocoder":
        self.net.to(device)
        return self

    def denoise(self, audio: torch.Tensor, strength: float = DENOISE_STRENGTH) -> torch.Tensor:
        mag, phase = self.stft.transform(audio.float().cpu())
        return self.stft.inverse((mag - self.bias * strength).clamp(min=0.0), phase)[:, 0]

    @torch.no_grad()
    def vocode(self, mel: torch.Tensor) -> np.ndarray:
        """Mel (1, 80, frames) -> denoised audio in int16 scale (vocoder.HiFiGAN.vocode)."""
        device = next(self.net.parameters()).device
        audio = self.net(mel.float().to(device)).squeeze().cpu() * MAX_WAV_VALUE
        return self.denoise(audio.view(1, -1)).numpy().reshape(-1)


def hifigan_mel(wave: torch.Tensor, h: HifiConfig) -> torch.Tensor:
    """meldataset.mel_spectrogram (center=False, reflect-padded, librosa's Slaney mel, log clamp 1e-5)."""
    import torchaudio

    fb = torchaudio.functional.melscale_fbanks(h.n_fft // 2 + 1, h.fmin, h.fmax, h.num_mels, h.sampling_rate,
                                               norm="slaney", mel_scale="slaney").T
    pad = (h.n_fft - h.hop_size) // 2
    y = F.pad(wave[:, None], (pad, pad), mode="reflect")[:, 0]
    spec = torch.stft(y, h.n_fft, hop_length=h.hop_size, win_length=h.win_size,
                      window=torch.hann_window(h.win_size, device=y.device), center=False, normalized=False,
                      onesided=True, return_complex=True)
    spec = torch.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-9)
    return torch.log(torch.clamp(fb.to(spec.device) @ spec, min=1e-5))


@torch.no_grad()
def superres(sr: Vocoder, audio: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    """vocoder.HiFiGAN.superres: resample to the hifisr rate (resampy sinc, Hann, 8 zeros), re-vocode its mel,
    denoise, keep the band above 10.5 kHz (101-tap FIR) x 4 and add it to the resampled speech."""
    import resampy
    import scipy.signal

    h = sr.h
    wave = resampy.resample(np.asarray(audio, np.float64), rate, h.sampling_rate, filter="sinc_window",
                            window=scipy.signal.windows.hann, num_zeros=8)
    device = next(sr.net.parameters()).device
    mel = hifigan_mel(torch.tensor(wave / MAX_WAV_VALUE, dtype=torch.float32, device=device)[None], h)
    high = sr.denoise(sr.net(mel).squeeze().cpu().view(1, -1) * MAX_WAV_VALUE).numpy().reshape(-1)
    b = scipy.signal.firwin(SUPERRES_TAPS, cutoff=SUPERRES_CUTOFF_HZ, fs=h.sampling_rate, pass_zero=False)
    high = scipy.signal.lfilter(b, [1.0], high) * SUPERRES_GAIN
    padded = np.zeros(wave.shape)
    n = min(len(high), len(wave))
    padded[:n] = high[:n]
    return wave + padded, h.sampling_rate
