"""HiFi-GAN decoders: plain, and neural-source-filter (NSF) driven by a sine source built from f0."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

LRELU_SLOPE = 0.1


def get_padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


class ResBlock1(nn.Module):
    def __init__(self, channels: int, kernel_size: int = 3, dilation: tuple[int, ...] = (1, 3, 5)):
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(channels, channels, kernel_size, 1, dilation=d,
                                              padding=get_padding(kernel_size, d)) for d in dilation)
        self.convs2 = nn.ModuleList(nn.Conv1d(channels, channels, kernel_size, 1, dilation=1,
                                              padding=get_padding(kernel_size, 1)) for _ in dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class ResBlock2(nn.Module):
    def __init__(self, channels: int, kernel_size: int = 3, dilation: tuple[int, ...] = (1, 3)):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(channels, channels, kernel_size, 1, dilation=d,
                                             padding=get_padding(kernel_size, d)) for d in dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c in self.convs:
            x = x + c(F.leaky_relu(x, LRELU_SLOPE))
        return x


def sine_source(f0: torch.Tensor, upp: int, sample_rate: int, harmonics: int = 0, sine_amp: float = 0.1,
                noise_std: float = 0.003, generator: torch.Generator | None = None) -> torch.Tensor:
    """Harmonic sine excitation (batch, samples, harmonics+1) from frame-rate f0 (batch, frames) in Hz.

    Unvoiced frames (f0 <= 0) carry only noise at sine_amp/3; the fundamental starts at phase 0,
    overtones at a random phase (as the NSF source does).
    """
    f0 = F.interpolate(f0[:, None].float(), scale_factor=upp, mode="nearest")[:, 0]  # (b, n)
    mult = torch.arange(1, harmonics + 2, device=f0.device, dtype=torch.float64)
    steps = (f0.double()[..., None] * mult / sample_rate) % 1.0
    # drawn in float32 as upstream draws it, so a generator seeded as upstream's gives upstream's phases
    start = torch.rand(f0.shape[0], 1, harmonics + 1, device=f0.device, generator=generator).double()
    start[..., 0] = 0.0
    phase = (torch.cumsum(steps, dim=1) + start) % 1.0
    sines = (torch.sin(2 * math.pi * phase) * sine_amp).float()
    uv = (f0 > 0).float()[..., None]
    noise_amp = uv * noise_std + (1 - uv) * sine_amp / 3
    noise = torch.randn(sines.shape, device=f0.device, generator=generator)
    return sines * uv + noise_amp * noise


class SourceModuleHnNSF(nn.Module):
    """Merges the harmonic sines into one excitation channel with a learned linear layer."""

    def __init__(self, sample_rate: int, harmonic_num: int = 0):
        super().__init__()
        self.sample_rate, self.harmonic_num = sample_rate, harmonic_num
        self.l_linear = nn.Linear(harmonic_num + 1, 1)

    def forward(self, f0: torch.Tensor, upp: int, generator: torch.Generator | None = None) -> torch.Tensor:
        sines = sine_source(f0, upp, self.sample_rate, self.harmonic_num, generator=generator)
        return torch.tanh(self.l_linear(sines))  # (b, n, 1)


class Generator(nn.Module):
    """HiFi-GAN decoder with speaker conditioning; with `nsf`, each upsampling stage also gets the
    f0-driven sine source through a strided conv (noise_convs)."""

    def __init__(self, initial_channel: int, resblock: str, resblock_kernel_sizes: list[int],
                 resblock_dilation_sizes: list[list[int]], upsample_rates: list[int], upsample_initial_channel: int,
                 upsample_kernel_sizes: list[int], gin_channels: int = 0, *, nsf: bool = False,
                 sample_rate: int = 40000, harmonic_num: int = 0, post_bias: bool = False):
        super().__init__()
        self.num_kernels, self.nsf = len(resblock_kernel_sizes), nsf
        self.upp = int(math.prod(upsample_rates))
        self.conv_pre = nn.Conv1d(initial_channel, upsample_initial_channel, 7, 1, padding=3)
        block = ResBlock1 if str(resblock) == "1" else ResBlock2
        self.ups = nn.ModuleList()
        if nsf:
            self.m_source = SourceModuleHnNSF(sample_rate, harmonic_num)
            self.noise_convs = nn.ModuleList()
        for i, (u, k) in enumerate(zip(upsample_rates, upsample_kernel_sizes)):
            c_cur = upsample_initial_channel // (2 ** (i + 1))
            self.ups.append(nn.ConvTranspose1d(upsample_initial_channel // (2 ** i), c_cur, k, u,
                                               padding=(k - u) // 2))
            if nsf:
                if i + 1 < len(upsample_rates):
                    stride = int(math.prod(upsample_rates[i + 1:]))
                    self.noise_convs.append(nn.Conv1d(1, c_cur, kernel_size=stride * 2, stride=stride,
                                                      padding=stride // 2))
                else:
                    self.noise_convs.append(nn.Conv1d(1, c_cur, kernel_size=1))
        self.resblocks = nn.ModuleList()
        ch = upsample_initial_channel
        for i in range(len(self.ups)):
            ch = upsample_initial_channel // (2 ** (i + 1))
            for k, d in zip(resblock_kernel_sizes, resblock_dilation_sizes):
                self.resblocks.append(block(ch, k, tuple(d)))
        self.conv_post = nn.Conv1d(ch, 1, 7, 1, padding=3, bias=post_bias)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, upsample_initial_channel, 1)

    def forward(self, x: torch.Tensor, f0: torch.Tensor | None = None, g: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """`generator` drives the NSF source's random phases and noise (None: torch's global generator)."""
        source = None
        if self.nsf:
            if f0 is None:
                raise ValueError("an NSF decoder needs f0")
            source = self.m_source(f0, self.upp, generator).transpose(1, 2)  # (b, 1, n)
        core = getattr(self, "core", None)  # an exported graph of from_source (vc.backend), when attached
        return (core or self.from_source)(x, source, g)

    def from_source(self, x: torch.Tensor, source: torch.Tensor | None, g: torch.Tensor | None = None) -> torch.Tensor:
        """The network after the (random, float64) sine source: latent (b, c, frames) + excitation
        (b, 1, frames * upp) -> audio (b, 1, frames * upp). Deterministic, so it can run as an exported graph."""
        x = self.conv_pre(x)
        if g is not None and hasattr(self, "cond"):
            x = x + self.cond(g)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            if source is not None:
                x = x + self.noise_convs[i](source)
            xs = sum(self.resblocks[i * self.num_kernels + j](x) for j in range(self.num_kernels))
            x = xs / self.num_kernels
        x = self.conv_post(F.leaky_relu(x))  # upstream uses the default 0.01 slope here
        return torch.tanh(x)
