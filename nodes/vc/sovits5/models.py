"""so-vits-svc 5.0's inference network (whisper-vits-svc vits/models.py SynthesizerInfer), no file I/O.

Shared with VITS (nodes/vc/vits): the relative-position transformer (window 4 here), the WaveNet stack and
the NSF sine source. New here, where 5.0 differs: the prior sums Whisper PPG, HuBERT-Soft units and a pitch
embedding; the flow's couplings are speaker-normalised (SNAC, speaker mean/scale from the 256-d
embedding); the decoder is BigVGAN (anti-aliased SnakeBeta AMP blocks) behind a speaker adapter, with an
11-harmonic NSF source merged by fixed weights. Module names follow upstream, so state dicts load by name.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from haysay.nodes.vc.vits.attentions import Encoder, sequence_mask
from haysay.nodes.vc.vits.flows import WN
from haysay.nodes.vc.vits.hifigan import get_padding, sine_source

F0_BIN, F0_MIN, F0_MAX = 256, 50.0, 1100.0
_MEL_MIN, _MEL_MAX = (1127 * math.log(1 + f / 700) for f in (F0_MIN, F0_MAX))
HARMONICS = 10
# upstream SourceModuleHnNSF's fixed merge of the fundamental and 10 overtones (buffers merge_w / merge_b)
MERGE_W = (0.2942, -0.2243, 0.0033, -0.0056, -0.0020, -0.0046, 0.0221, -0.0083, -0.0241, -0.0036, -0.0581)
MERGE_B = 0.0008


@dataclass(frozen=True)
class Sovits5Config:
    """configs/base.yaml's fields the inference network reads (defaults: upstream's base.yaml)."""
    sampling_rate: int = 32000
    hop_length: int = 320
    ppg_dim: int = 1280
    vec_dim: int = 256
    spk_dim: int = 256
    gin_channels: int = 256
    inter_channels: int = 192
    hidden_channels: int = 192
    filter_channels: int = 640
    upsample_input: int = 192
    upsample_rates: tuple[int, ...] = (5, 4, 4, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (15, 8, 8, 4, 4)
    upsample_initial_channel: int = 320
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))


def f0_to_coarse(f0: torch.Tensor) -> torch.Tensor:
    """Hz -> pitch ids 1..255 on the mel scale (upstream vits/utils.py f0_to_coarse, rounding half up)."""
    mel = 1127 * torch.log(1 + f0 / 700)
    mel = torch.where(mel > 0, (mel - _MEL_MIN) * (F0_BIN - 2) / (_MEL_MAX - _MEL_MIN) + 1, mel)
    return (mel.clamp(1, F0_BIN - 1) + 0.5).long()


class TextEncoder(nn.Module):
    """The prior: PPG conv + units conv + pitch embedding -> transformer (2 heads, 6 layers, FFN kernel 3)."""

    def __init__(self, cfg: Sovits5Config):
        super().__init__()
        h = cfg.hidden_channels
        self.out_channels = cfg.inter_channels
        self.pre = nn.Conv1d(cfg.ppg_dim, h, kernel_size=5, padding=2)
        self.hub = nn.Conv1d(cfg.vec_dim, h, kernel_size=5, padding=2)
        self.pit = nn.Embedding(F0_BIN, h)
        self.enc = Encoder(h, cfg.filter_channels, 2, 6, kernel_size=3, window_size=4)
        self.proj = nn.Conv1d(h, cfg.inter_channels * 2, 1)

    def forward(self, ppg: torch.Tensor, vec: torch.Tensor, f0: torch.Tensor, lengths: torch.Tensor):
        """ppg (b, t, ppg_dim), vec (b, t, vec_dim), f0 (b, t) Hz -> prior mean and log-scale
        (b, inter, t) each, mask (b, 1, t)."""
        x_mask = sequence_mask(lengths, ppg.shape[1]).unsqueeze(1).to(ppg.dtype)
        x = self.pre(ppg.transpose(1, 2)) * x_mask + self.hub(vec.transpose(1, 2)) * x_mask
        x = x + self.pit(f0_to_coarse(f0)).transpose(1, 2)
        x = self.enc(x * x_mask, x_mask)
        stats = self.proj(x) * x_mask
        return stats[:, :self.out_channels], stats[:, self.out_channels:], x_mask


class SnacCoupling(nn.Module):
    """Mean-only affine coupling whose halves are normalised by a speaker mean and log-scale (snac)."""

    def __init__(self, channels: int, hidden: int, spk_dim: int, kernel_size: int = 5, n_layers: int = 4):
        super().__init__()
        self.half = channels // 2
        self.pre = nn.Conv1d(self.half, hidden, 1)
        self.enc = WN(hidden, kernel_size, 1, n_layers)
        self.post = nn.Conv1d(hidden, self.half, 1)
        self.snac = nn.Conv1d(spk_dim, 2 * self.half, 1)

    def reverse(self, x: torch.Tensor, x_mask: torch.Tensor, spk: torch.Tensor) -> torch.Tensor:
        sm, sv = self.snac(spk.unsqueeze(-1)).chunk(2, dim=1)
        x0, x1 = x[:, :self.half], x[:, self.half:]
        h = self.enc(self.pre((x0 - sm) * torch.exp(-sv) * x_mask) * x_mask, x_mask)
        m = self.post(h) * x_mask
        x1 = (sm + (x1 - m) * x_mask * torch.exp(sv)) * x_mask
        return torch.cat([x0, x1], 1)


class _Flip(nn.Module):
    """Parameter-free; keeps the couplings at upstream's indices (0, 2, 4, 6)."""


class SnacFlow(nn.Module):
    def __init__(self, cfg: Sovits5Config, n_flows: int = 4):
        super().__init__()
        self.flows = nn.ModuleList()
        for _ in range(n_flows):
            self.flows.append(SnacCoupling(cfg.inter_channels, cfg.hidden_channels, cfg.spk_dim))
            self.flows.append(_Flip())

    def reverse(self, x: torch.Tensor, x_mask: torch.Tensor, spk: torch.Tensor) -> torch.Tensor:
        for flow in reversed(self.flows):
            x = torch.flip(x, [1]) if isinstance(flow, _Flip) else flow.reverse(x, x_mask, spk)
        return x


def kaiser_sinc_filter(cutoff: float, half_width: float, kernel_size: int) -> torch.Tensor:
    """(1, 1, kernel_size) Kaiser-windowed sinc low-pass (alias-free-torch's, as BigVGAN uses it)."""
    half = kernel_size // 2
    a = 2.285 * (half - 1) * math.pi * 4 * half_width + 7.95
    beta = 0.1102 * (a - 8.7) if a > 50 else (0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21) if a >= 21 else 0.0)
    window = torch.kaiser_window(kernel_size, beta=beta, periodic=False)
    t = torch.arange(-half, half) + 0.5 if kernel_size % 2 == 0 else torch.arange(kernel_size) - half
    filt = 2 * cutoff * window * torch.sinc(2 * cutoff * t)
    return (filt / filt.sum()).view(1, 1, kernel_size)


class UpSample1d(nn.Module):
    def __init__(self, ratio: int = 2, kernel_size: int = 12):
        super().__init__()
        self.ratio, self.kernel_size = ratio, kernel_size
        pad = kernel_size // ratio - 1
        self.pad = pad
        self.pad_left = pad * ratio + (kernel_size - ratio) // 2
        self.pad_right = pad * ratio + (kernel_size - ratio + 1) // 2
        self.register_buffer("filter", kaiser_sinc_filter(0.5 / ratio, 0.6 / ratio, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        x = self.ratio * F.conv_transpose1d(x, self.filter.expand(c, -1, -1), stride=self.ratio, groups=c)
        return x[..., self.pad_left:-self.pad_right]


class LowPassFilter1d(nn.Module):
    def __init__(self, cutoff: float, half_width: float, stride: int, kernel_size: int):
        super().__init__()
        self.stride = stride
        self.pad_left, self.pad_right = kernel_size // 2 - int(kernel_size % 2 == 0), kernel_size // 2
        self.register_buffer("filter", kaiser_sinc_filter(cutoff, half_width, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (self.pad_left, self.pad_right), mode="replicate")
        return F.conv1d(x, self.filter.expand(x.shape[1], -1, -1), stride=self.stride, groups=x.shape[1])


class DownSample1d(nn.Module):
    def __init__(self, ratio: int = 2, kernel_size: int = 12):
        super().__init__()
        self.lowpass = LowPassFilter1d(0.5 / ratio, 0.6 / ratio, ratio, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lowpass(x)


class SnakeBeta(nn.Module):
    """x + sin^2(a x) / b with log-scale per-channel a, b."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = torch.exp(self.alpha)[None, :, None], torch.exp(self.beta)[None, :, None]
        return x + (1.0 / (b + 1e-9)) * torch.sin(x * a) ** 2


class SnakeAlias(nn.Module):
    """SnakeBeta at twice the rate: upsample, activate, low-pass and decimate."""

    def __init__(self, channels: int):
        super().__init__()
        self.act = SnakeBeta(channels)
        self.upsample = UpSample1d(2, 12)
        self.downsample = DownSample1d(2, 12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(self.act(self.upsample(x)))


class AMPBlock(nn.Module):
    def __init__(self, channels: int, kernel_size: int, dilation: tuple[int, ...]):
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(channels, channels, kernel_size, 1, dilation=d,
                                              padding=get_padding(kernel_size, d)) for d in dilation)
        self.convs2 = nn.ModuleList(nn.Conv1d(channels, channels, kernel_size, 1, dilation=1,
                                              padding=get_padding(kernel_size, 1)) for _ in dilation)
        self.activations = nn.ModuleList(SnakeAlias(channels) for _ in range(2 * len(dilation)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        acts1, acts2 = self.activations[::2], self.activations[1::2]
        for c1, c2, a1, a2 in zip(self.convs1, self.convs2, acts1, acts2):
            x = x + c2(a2(c1(a1(x))))
        return x


class SpeakerAdapter(nn.Module):
    """Per-frame channel normalisation rescaled and shifted from the speaker embedding."""

    def __init__(self, spk_dim: int, channels: int):
        super().__init__()
        self.W_scale = nn.Linear(spk_dim, channels)
        self.W_bias = nn.Linear(spk_dim, channels)

    def forward(self, x: torch.Tensor, spk: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x.transpose(1, 2), (x.shape[1],), eps=1e-5)
        y = y * self.W_scale(spk).unsqueeze(1) + self.W_bias(spk).unsqueeze(1)
        return y.transpose(1, 2)


class SourceModule(nn.Module):
    """11-harmonic NSF sine source merged with upstream's fixed weights (saved as buffers)."""

    def __init__(self, sample_rate: int):
        super().__init__()
        self.sample_rate = sample_rate
        self.register_buffer("merge_w", torch.tensor([MERGE_W]))
        self.register_buffer("merge_b", torch.tensor([MERGE_B]))

    def forward(self, f0: torch.Tensor, upp: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """f0 (b, frames) Hz -> excitation (b, 1, frames * upp)."""
        sines = sine_source(f0, upp, self.sample_rate, HARMONICS, generator=generator)
        return torch.tanh(F.linear(sines, self.merge_w, self.merge_b)).transpose(1, 2)


class BigVGAN(nn.Module):
    """vits_decoder/generator.py Generator, inference path (source given)."""

    def __init__(self, cfg: Sovits5Config):
        super().__init__()
        c0, rates = cfg.upsample_initial_channel, cfg.upsample_rates
        self.num_kernels, self.upp = len(cfg.resblock_kernel_sizes), int(math.prod(rates))
        self.adapter = SpeakerAdapter(cfg.spk_dim, cfg.upsample_input)
        self.conv_pre = nn.Conv1d(cfg.upsample_input, c0, 7, 1, padding=3)
        self.m_source = SourceModule(cfg.sampling_rate)
        self.ups, self.noise_convs, self.resblocks = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for i, (u, k) in enumerate(zip(rates, cfg.upsample_kernel_sizes)):
            ch = c0 // (2 ** (i + 1))
            self.ups.append(nn.ConvTranspose1d(c0 // (2 ** i), ch, k, u, padding=(k - u) // 2))
            if i + 1 < len(rates):
                s = int(math.prod(rates[i + 1:]))
                self.noise_convs.append(nn.Conv1d(1, ch, kernel_size=s * 2, stride=s, padding=s // 2))
            else:
                self.noise_convs.append(nn.Conv1d(1, ch, kernel_size=1))
            for rk, rd in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes):
                self.resblocks.append(AMPBlock(ch, rk, tuple(rd)))
        self.activation_post = SnakeAlias(ch)
        self.conv_post = nn.Conv1d(ch, 1, 7, 1, padding=3, bias=False)

    def forward(self, spk: torch.Tensor, x: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(self.adapter(x, spk))
        x = x * torch.tanh(F.softplus(x))
        for i, up in enumerate(self.ups):
            x = up(x) + self.noise_convs[i](source)
            x = sum(self.resblocks[i * self.num_kernels + j](x) for j in range(self.num_kernels)) / self.num_kernels
        return torch.tanh(self.conv_post(self.activation_post(x)))


class Sovits5Synthesizer(nn.Module):
    """SynthesizerInfer: prior mean -> SNAC flow (reverse) -> BigVGAN, all conditioned on the speaker."""

    def __init__(self, cfg: Sovits5Config):
        super().__init__()
        self.cfg = cfg
        self.enc_p = TextEncoder(cfg)
        self.flow = SnacFlow(cfg)
        self.dec = BigVGAN(cfg)

    def source(self, f0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """f0 (b, frames) Hz -> the decoder's excitation (b, 1, frames * hop) (upstream pitch2source)."""
        return self.dec.m_source(f0, self.dec.upp, generator)

    def infer(self, ppg: torch.Tensor, vec: torch.Tensor, f0: torch.Tensor, spk: torch.Tensor,
              source: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """ppg (b, t, ppg_dim), vec (b, t, vec_dim), f0 (b, t) Hz, spk (b, spk_dim), source (b, 1, t * hop)
        -> audio (b, 1, t * hop) (upstream SynthesizerInfer.inference). `noise` (b, inter, t), unit normal,
        draws the prior sample as upstream does (z = m + noise * exp(logs)); None: zeros (the prior mean)."""
        lengths = torch.full((ppg.shape[0],), ppg.shape[1], dtype=torch.long, device=ppg.device)
        m, logs, mask = self.enc_p(ppg, vec, f0, lengths)
        z = m if noise is None else (m + noise * torch.exp(logs)) * mask
        z = self.flow.reverse(z, mask, spk)
        return self.dec(spk, z * mask, source)
