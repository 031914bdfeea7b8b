"""so-vits-svc 4.0/4.1 SynthesizerTrn, inference path (no file I/O).

content (ssl_dim) -> pre conv + voicing embedding (+ volume embedding) ->
text encoder with coarse-pitch embedding -> reverse flow -> NSF-HiFiGAN with
9-harmonic source. Optionally the F0 decoder predicts f0 from the content.
"""
from __future__ import annotations

import torch
from torch import nn

from haysay.nodes.vc.pitch import sovits_coarse
from haysay.nodes.vc.sovits.config import SovitsConfig  # noqa: F401  (re-exported)
from haysay.nodes.vc.vits.attentions import FFT, Encoder, sequence_mask
from haysay.nodes.vc.vits.flows import ResidualCouplingBlock
from haysay.nodes.vc.vits.hifigan import Generator


class TextEncoder(nn.Module):
    def __init__(self, out_channels: int, hidden: int, filter_channels: int, n_heads: int, n_layers: int,
                 kernel_size: int):
        super().__init__()
        self.out_channels = out_channels
        self.proj = nn.Conv1d(hidden, out_channels * 2, 1)
        self.f0_emb = nn.Embedding(256, hidden)
        # so-vits-svc's attentions.Encoder defaults to relative-attention window 4 (VITS/RVC: 10)
        self.enc_ = Encoder(hidden, filter_channels, n_heads, n_layers, kernel_size, window_size=4)

    def forward(self, x, x_mask, f0_coarse, noise_scale: float, generator: torch.Generator | None):
        x = x + self.f0_emb(f0_coarse).transpose(1, 2)
        x = self.enc_(x * x_mask, x_mask)
        m, logs = (self.proj(x) * x_mask).split(self.out_channels, dim=1)
        noise = torch.randn(m.shape, generator=generator, device=m.device, dtype=m.dtype)
        return (m + noise * torch.exp(logs) * noise_scale) * x_mask


class F0Decoder(nn.Module):
    def __init__(self, hidden: int, filter_channels: int, n_heads: int, n_layers: int, kernel_size: int,
                 spk_channels: int):
        super().__init__()
        self.prenet = nn.Conv1d(hidden, hidden, 3, padding=1)
        self.decoder = FFT(hidden, filter_channels, n_heads, n_layers, kernel_size)
        self.proj = nn.Conv1d(hidden, 1, 1)
        self.f0_prenet = nn.Conv1d(1, hidden, 3, padding=1)
        self.cond = nn.Conv1d(spk_channels, hidden, 1)

    def forward(self, x, norm_f0, x_mask, spk_emb):
        x = x + self.cond(spk_emb) + self.f0_prenet(norm_f0)
        x = self.prenet(x) * x_mask
        return self.proj(self.decoder(x * x_mask, x_mask)) * x_mask


class SovitsSynthesizer(nn.Module):
    upstream_noise_scale = 0.4  # 4.x inference_main.py's --noice_scale default

    def __init__(self, cfg: SovitsConfig):
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden_channels
        self.emb_g = nn.Embedding(cfg.n_speakers, cfg.gin_channels)
        if cfg.vol_embedding:
            self.emb_vol = nn.Linear(1, h)
        self.pre = nn.Conv1d(cfg.ssl_dim, h, kernel_size=5, padding=2)
        self.enc_p = TextEncoder(cfg.inter_channels, h, cfg.filter_channels, cfg.n_heads, cfg.n_layers,
                                 cfg.kernel_size)
        self.dec = Generator(cfg.inter_channels, cfg.resblock, list(cfg.resblock_kernel_sizes),
                             [list(d) for d in cfg.resblock_dilation_sizes], list(cfg.upsample_rates),
                             cfg.upsample_initial_channel, list(cfg.upsample_kernel_sizes), cfg.gin_channels,
                             nsf=True, sample_rate=cfg.sampling_rate, harmonic_num=8, post_bias=True)
        self.flow = ResidualCouplingBlock(cfg.inter_channels, h, 5, 1, cfg.n_flow_layer, gin_channels=cfg.gin_channels)
        if cfg.use_automatic_f0_prediction:
            self.f0_decoder = F0Decoder(h, cfg.filter_channels, cfg.n_heads, cfg.n_layers, cfg.kernel_size,
                                        cfg.gin_channels)
        self.emb_uv = nn.Embedding(2, h)

    def speaker_embedding(self, speaker: int | torch.Tensor, device) -> torch.Tensor:
        """(1, gin, 1) for a speaker id; for weights over speaker ids, (S,) or per frame (frames, S), their
        weighted sum of embeddings (upstream's character mix), (1, gin, 1) or (1, gin, frames)."""
        if isinstance(speaker, int):
            return self.emb_g(torch.tensor([[speaker]], device=device)).transpose(1, 2)
        w = speaker.to(device=device, dtype=self.emb_g.weight.dtype)
        g = w @ self.emb_g.weight[:w.shape[-1]]
        return g[None, :, None] if w.dim() == 1 else g.T[None]

    @torch.no_grad()
    def infer(self, c: torch.Tensor, f0: torch.Tensor, uv: torch.Tensor, sid: int | torch.Tensor,
              noise_scale: float = 0.4, predict_f0: bool = False, vol: torch.Tensor | None = None,
              generator: torch.Generator | None = None):
        """c (1, ssl_dim, frames), f0/uv (1, frames), sid a speaker id or mix weights (see
        speaker_embedding) -> (audio (1, 1, samples), the f0 used (1, frames))."""
        g = self.speaker_embedding(sid, c.device)
        x_mask = sequence_mask(torch.tensor([c.shape[-1]], device=c.device), c.shape[-1]).unsqueeze(1).to(c.dtype)
        x = self.pre(c) * x_mask + self.emb_uv(uv.long()).transpose(1, 2)
        if vol is not None and self.cfg.vol_embedding:
            x = x + self.emb_vol(vol[:, :, None]).transpose(1, 2)
        if predict_f0:
            if not self.cfg.use_automatic_f0_prediction:
                raise ValueError("auto_predict_f0: this model was trained without the F0 predictor")
            lf0 = 2595.0 * torch.log10(1.0 + f0.unsqueeze(1) / 700.0) / 500
            voiced = uv.sum(dim=1, keepdim=True).clamp_min(1)
            mean = (lf0[:, 0] * uv).sum(dim=1, keepdim=True) / voiced
            norm = (lf0 - mean.unsqueeze(-1)) * x_mask
            pred = self.f0_decoder(x, norm, x_mask, g)
            f0 = (700 * (torch.pow(10, pred * 500 / 2595) - 1)).squeeze(1)
        z_p = self.enc_p(x, x_mask, sovits_coarse(f0), noise_scale, generator)
        z = self.flow.reverse(z_p, x_mask, g)
        return self.dec(z * x_mask, f0, g, generator), f0
