"""OpenVoice's tone-colour converter network (upstream models.SynthesizerTrn with n_speakers=0), inference only.

The posterior encoder, the mean-only coupling flow and the HiFi-GAN decoder are the shared VITS modules
(haysay.nodes.vc.vits); only the reference encoder, which turns a linear spectrogram into a speaker
("tone colour") embedding, is OpenVoice's own. Names follow upstream so its state dict loads by name.
No file I/O here (see checkpoint.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from haysay.nodes.vc.vits.attentions import sequence_mask
from haysay.nodes.vc.vits.flows import WN, Flip, ResidualCouplingBlock
from haysay.nodes.vc.vits.hifigan import Generator

REF_ENC_FILTERS = (32, 32, 64, 64, 128, 128)


@dataclass(frozen=True)
class OpenVoiceConfig:
    """The converter's `config.json` (data + model sections); defaults are upstream's v2 converter."""

    sampling_rate: int = 22050
    filter_length: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    inter_channels: int = 192
    hidden_channels: int = 192
    resblock: str = "1"
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_initial_channel: int = 512
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4)
    gin_channels: int = 256
    zero_g: bool = False  # v2: the posterior encoder and decoder see no speaker embedding
    version: str = "v1"
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def spec_channels(self) -> int:
        return self.filter_length // 2 + 1


class ReferenceEncoder(nn.Module):
    """Linear spectrogram (batch, frames, bins) -> tone-colour embedding (batch, gin_channels):
    layer norm over bins, six strided 3x3 convs, a GRU over time, a projection of its last state."""

    def __init__(self, spec_channels: int, gin_channels: int = 0, layernorm: bool = True):
        super().__init__()
        self.spec_channels = spec_channels
        filters = (1,) + REF_ENC_FILTERS
        self.convs = nn.ModuleList(nn.Conv2d(filters[i], filters[i + 1], (3, 3), (2, 2), (1, 1))
                                   for i in range(len(REF_ENC_FILTERS)))
        width = spec_channels
        for _ in REF_ENC_FILTERS:
            width = (width - 3 + 2) // 2 + 1
        self.gru = nn.GRU(input_size=REF_ENC_FILTERS[-1] * width, hidden_size=128, batch_first=True)
        self.proj = nn.Linear(128, gin_channels)
        self.layernorm = nn.LayerNorm(spec_channels) if layernorm else None

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        n = spec.size(0)
        out = spec.reshape(n, 1, -1, self.spec_channels)
        if self.layernorm is not None:
            out = self.layernorm(out)
        for conv in self.convs:
            out = F.relu(conv(out))
        out = out.transpose(1, 2)
        out = out.contiguous().view(n, out.size(1), -1)
        _, last = self.gru(out)
        return self.proj(last.squeeze(0))


class PosteriorEncoder(nn.Module):
    """Spectrogram -> latent z = m + noise * tau * exp(logs) (VITS enc_q: 1x1 conv, WN stack, projection)."""

    def __init__(self, in_channels: int, out_channels: int, hidden: int, kernel_size: int, dilation_rate: int,
                 n_layers: int, gin_channels: int = 0):
        super().__init__()
        self.out_channels = out_channels
        self.pre = nn.Conv1d(in_channels, hidden, 1)
        self.enc = WN(hidden, kernel_size, dilation_rate, n_layers, gin_channels)
        self.proj = nn.Conv1d(hidden, out_channels * 2, 1)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None, tau: float,
                generator: torch.Generator | None = None) -> torch.Tensor:
        x = self.pre(x) * x_mask
        x = self.enc(x, x_mask, g)
        m, logs = torch.split(self.proj(x) * x_mask, self.out_channels, dim=1)
        # drawn on the generator's device (CPU in convert.py), then moved: a seed gives the same output anywhere
        noise = torch.randn(m.shape, dtype=m.dtype, generator=generator).to(m.device)
        return (m + noise * tau * torch.exp(logs)) * x_mask


def flow_forward(block: ResidualCouplingBlock, x: torch.Tensor, x_mask: torch.Tensor,
                 g: torch.Tensor | None) -> torch.Tensor:
    """The training direction of the shared mean-only coupling flow (x1 + m per layer, then flip):
    voice conversion maps the source latent into the speaker-free prior space with it."""
    for flow in block.flows:
        if isinstance(flow, Flip):
            x = torch.flip(x, [1])
            continue
        x0, x1 = x[:, :flow.half], x[:, flow.half:]
        m = flow.post(flow.enc(flow.pre(x0) * x_mask, x_mask, g)) * x_mask
        x = torch.cat([x0, m + x1 * x_mask], 1)
    return x


class ToneColourConverter(nn.Module):
    """Upstream's SynthesizerTrn for a converter checkpoint (n_speakers=0): dec, enc_q, flow, ref_enc."""

    def __init__(self, cfg: OpenVoiceConfig):
        super().__init__()
        self.cfg = cfg
        self.dec = Generator(cfg.inter_channels, cfg.resblock, list(cfg.resblock_kernel_sizes),
                             [list(d) for d in cfg.resblock_dilation_sizes], list(cfg.upsample_rates),
                             cfg.upsample_initial_channel, list(cfg.upsample_kernel_sizes), cfg.gin_channels)
        self.enc_q = PosteriorEncoder(cfg.spec_channels, cfg.inter_channels, cfg.hidden_channels, 5, 1, 16,
                                      cfg.gin_channels)
        self.flow = ResidualCouplingBlock(cfg.inter_channels, cfg.hidden_channels, 5, 1, 4,
                                          gin_channels=cfg.gin_channels)
        self.ref_enc = ReferenceEncoder(cfg.spec_channels, cfg.gin_channels)

    def embedding(self, spec: torch.Tensor) -> torch.Tensor:
        """Tone-colour embedding (batch, gin_channels, 1) of a spectrogram (batch, bins, frames)."""
        return self.ref_enc(spec.transpose(1, 2)).unsqueeze(-1)

    def voice_conversion(self, spec: torch.Tensor, g_src: torch.Tensor, g_tgt: torch.Tensor, tau: float,
                         generator: torch.Generator | None = None) -> torch.Tensor:
        """Source spectrogram (1, bins, frames) -> audio (1, 1, frames * hop) in the target's tone colour."""
        lengths = torch.tensor([spec.size(-1)], device=spec.device)
        mask = sequence_mask(lengths, spec.size(2)).unsqueeze(1).to(spec.dtype)
        z = self.enc_q(spec, mask, torch.zeros_like(g_src) if self.cfg.zero_g else g_src, tau, generator)
        z_p = flow_forward(self.flow, z, mask, g_src)
        z_hat = self.flow.reverse(z_p, mask, g_tgt)
        return self.dec(z_hat * mask, g=torch.zeros_like(g_tgt) if self.cfg.zero_g else g_tgt)
