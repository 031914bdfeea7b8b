"""RVC synthesizers (SynthesizerTrnMs256NSFsid / SynthesizerTrnMs768NSFsid and their _nono variants).

Inference path only: content features (+ coarse pitch) -> text encoder prior ->
reverse flow -> HiFi-GAN decoder (NSF with a sine source from f0 when the model
uses pitch). The posterior encoder (enc_q) is training-only and not built.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from haysay.nodes.vc.vits.attentions import Encoder, sequence_mask
from haysay.nodes.vc.vits.flows import ResidualCouplingBlock
from haysay.nodes.vc.vits.hifigan import Generator

# Names of the positional entries of an RVC checkpoint's `config` list, in order.
CONFIG_FIELDS = ("spec_channels", "segment_size", "inter_channels", "hidden_channels", "filter_channels",
                 "n_heads", "n_layers", "kernel_size", "p_dropout", "resblock", "resblock_kernel_sizes",
                 "resblock_dilation_sizes", "upsample_rates", "upsample_initial_channel", "upsample_kernel_sizes",
                 "spk_embed_dim", "gin_channels", "sr")


@dataclass(frozen=True)
class RVCConfig:
    spec_channels: int
    segment_size: int
    inter_channels: int
    hidden_channels: int
    filter_channels: int
    n_heads: int
    n_layers: int
    kernel_size: int
    p_dropout: float
    resblock: str
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    upsample_rates: tuple[int, ...]
    upsample_initial_channel: int
    upsample_kernel_sizes: tuple[int, ...]
    spk_embed_dim: int
    gin_channels: int
    sr: int

    @classmethod
    def from_list(cls, values: list) -> "RVCConfig":
        if len(values) != len(CONFIG_FIELDS):
            raise ValueError(f"config has {len(values)} entries, expected {len(CONFIG_FIELDS)}")
        kw = dict(zip(CONFIG_FIELDS, values))
        kw["resblock"] = str(kw["resblock"])
        for key in ("resblock_kernel_sizes", "upsample_rates", "upsample_kernel_sizes"):
            kw[key] = tuple(int(v) for v in kw[key])
        kw["resblock_dilation_sizes"] = tuple(tuple(int(v) for v in d) for d in kw["resblock_dilation_sizes"])
        return cls(**kw)

    def to_list(self) -> list:
        out = []
        for name in CONFIG_FIELDS:
            v = getattr(self, name)
            out.append([list(d) for d in v] if name == "resblock_dilation_sizes" else
                       list(v) if isinstance(v, tuple) else v)
        return out

    @property
    def hop(self) -> int:
        return int(math.prod(self.upsample_rates))


# The configs RVC's WebUI writes for its pretrained bases (v2 40k shown; spk_embed_dim 109, gin 256).
V2_40K = RVCConfig.from_list([1025, 32, 192, 192, 768, 2, 6, 3, 0, "1", [3, 7, 11],
                              [[1, 3, 5], [1, 3, 5], [1, 3, 5]], [10, 10, 2, 2], 512, [16, 16, 4, 4], 109, 256,
                              40000])
V2_48K = RVCConfig.from_list([1025, 32, 192, 192, 768, 2, 6, 3, 0, "1", [3, 7, 11],
                              [[1, 3, 5], [1, 3, 5], [1, 3, 5]], [12, 10, 2, 2], 512, [24, 20, 4, 4], 109, 256,
                              48000])


class TextEncoder(nn.Module):
    """Content features (256 dims v1, 768 dims v2) + pitch embedding -> prior mean and log-std."""

    def __init__(self, in_dim: int, out_channels: int, hidden: int, filter_channels: int, n_heads: int,
                 n_layers: int, kernel_size: int, f0: bool):
        super().__init__()
        self.hidden, self.out_channels = hidden, out_channels
        self.emb_phone = nn.Linear(in_dim, hidden)
        if f0:
            self.emb_pitch = nn.Embedding(256, hidden)
        self.encoder = Encoder(hidden, filter_channels, n_heads, n_layers, kernel_size)
        self.proj = nn.Conv1d(hidden, out_channels * 2, 1)

    def forward(self, phone: torch.Tensor, pitch: torch.Tensor | None, lengths: torch.Tensor):
        x = self.emb_phone(phone)
        if pitch is not None:
            x = x + self.emb_pitch(pitch)
        x = torch.nn.functional.leaky_relu(x * math.sqrt(self.hidden), 0.1).transpose(1, -1)
        mask = sequence_mask(lengths, x.shape[2]).unsqueeze(1).to(x.dtype)
        x = self.encoder(x * mask, mask)
        stats = self.proj(x) * mask
        m, logs = stats.split(self.out_channels, dim=1)
        return m, logs, mask


class RVCSynthesizer(nn.Module):
    """One class for the four upstream synthesizers: `phone_dim` 256 (v1) or 768 (v2), `f0` on/off."""

    def __init__(self, cfg: RVCConfig, phone_dim: int, f0: bool):
        super().__init__()
        self.cfg, self.phone_dim, self.use_f0 = cfg, phone_dim, f0
        self.enc_p = TextEncoder(phone_dim, cfg.inter_channels, cfg.hidden_channels, cfg.filter_channels,
                                 cfg.n_heads, cfg.n_layers, cfg.kernel_size, f0)
        self.dec = Generator(cfg.inter_channels, cfg.resblock, list(cfg.resblock_kernel_sizes),
                             [list(d) for d in cfg.resblock_dilation_sizes], list(cfg.upsample_rates),
                             cfg.upsample_initial_channel, list(cfg.upsample_kernel_sizes), cfg.gin_channels,
                             nsf=f0, sample_rate=cfg.sr, harmonic_num=0, post_bias=False)
        self.flow = ResidualCouplingBlock(cfg.inter_channels, cfg.hidden_channels, 5, 1, 3,
                                          gin_channels=cfg.gin_channels)
        self.emb_g = nn.Embedding(cfg.spk_embed_dim, cfg.gin_channels)

    @torch.no_grad()
    def infer(self, phone: torch.Tensor, pitch: torch.Tensor | None, nsff0: torch.Tensor | None, sid: int = 0,
              noise_scale: float = 0.66666, generator: torch.Generator | None = None) -> torch.Tensor:
        """phone (1, frames, dims) at 100 fps, pitch (1, frames) coarse 1..255, nsff0 (1, frames) Hz -> (1, 1, samples)."""
        lengths = torch.tensor([phone.shape[1]], device=phone.device)
        g = self.emb_g(torch.tensor([sid], device=phone.device)).unsqueeze(-1)
        m, logs, mask = self.enc_p(phone, pitch if self.use_f0 else None, lengths)
        noise = torch.randn(m.shape, device=m.device, generator=generator, dtype=m.dtype)
        z_p = (m + torch.exp(logs) * noise * noise_scale) * mask
        z = self.flow.reverse(z_p, mask, g)
        return self.dec(z * mask, nsff0 if self.use_f0 else None, g, generator)


def rvc_synthesizer(cfg: RVCConfig, version: str, f0: bool) -> RVCSynthesizer:
    """Factory: version 'v1' (256-dim content) or 'v2' (768-dim), with or without pitch."""
    if version not in ("v1", "v2"):
        raise ValueError(f"version must be 'v1' or 'v2', got {version!r}")
    return RVCSynthesizer(cfg, 256 if version == "v1" else 768, f0)
