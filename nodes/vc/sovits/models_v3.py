"""so-vits-svc 3.0 SynthesizerTrn (branches Mera-SVC-32k / Mera-SVC-48k), inference path (no file I/O).

Differs from 4.x: the 256-dim HuBERT-Soft units go through a 1x1 conv inside the prior encoder
(`enc_p_.pre`), there is no voicing embedding, no volume embedding and no F0 predictor; the prior encoder
always has 16 layers of kernel 5 (upstream passes them positionally, whatever config.json says), and the
NSF-HiFiGAN decoder's settings are fixed in upstream's models.py rather than read from the config.
"""
from __future__ import annotations

import torch
from torch import nn

from haysay.nodes.vc.pitch import F0_MAX, sovits_coarse
from haysay.nodes.vc.sovits.config import V3_DECODER, SovitsConfig
from haysay.nodes.vc.sovits.models import SovitsSynthesizer, TextEncoder
from haysay.nodes.vc.vits.attentions import sequence_mask
from haysay.nodes.vc.vits.flows import ResidualCouplingBlock
from haysay.nodes.vc.vits.hifigan import Generator

V3_PRIOR_LAYERS, V3_PRIOR_KERNEL = 16, 5


class TextEncoderV3(TextEncoder):
    def __init__(self, ssl_dim: int, out_channels: int, hidden: int, filter_channels: int, n_heads: int):
        super().__init__(out_channels, hidden, filter_channels, n_heads, V3_PRIOR_LAYERS, V3_PRIOR_KERNEL)
        self.pre = nn.Conv1d(ssl_dim, hidden, 1)


def coarse_v3(f0: torch.Tensor) -> torch.Tensor:
    """3.0's `utils.f0_to_coarse`: as 4.x's, but pitches above 1100 Hz clamp to the top bin (4.x: bin 0)."""
    return sovits_coarse(f0.clamp(max=F0_MAX))


class SovitsV3Synthesizer(SovitsSynthesizer):
    """Shares 4.x's speaker embedding (and so its speaker mixing); the rest of the network is 3.0's."""
    upstream_noise_scale = 1.0  # 3.0's TextEncoder noise scale, which its infer never changes

    def __init__(self, cfg: SovitsConfig):
        nn.Module.__init__(self)
        self.cfg = cfg
        h = cfg.hidden_channels
        self.emb_g = nn.Embedding(cfg.n_speakers, cfg.gin_channels)
        self.enc_p_ = TextEncoderV3(cfg.ssl_dim, cfg.inter_channels, h, cfg.filter_channels, cfg.n_heads)
        d = V3_DECODER
        self.dec = Generator(d["inter_channels"], d["resblock"], list(d["resblock_kernel_sizes"]),
                             [list(x) for x in d["resblock_dilation_sizes"]], list(d["upsample_rates"]),
                             d["upsample_initial_channel"], list(d["upsample_kernel_sizes"]), d["gin_channels"],
                             nsf=True, sample_rate=cfg.sampling_rate, harmonic_num=8, post_bias=True)
        self.flow = ResidualCouplingBlock(cfg.inter_channels, h, 5, 1, 4, gin_channels=cfg.gin_channels)

    @torch.no_grad()
    def infer(self, c: torch.Tensor, f0: torch.Tensor, uv: torch.Tensor, sid: int | torch.Tensor,
              noise_scale: float = 1.0, predict_f0: bool = False, vol: torch.Tensor | None = None,
              generator: torch.Generator | None = None):
        """As SovitsSynthesizer.infer; `uv` and `vol` are unused (3.0 has no such inputs). Upstream 3.0 draws
        the prior at noise scale 1."""
        if predict_f0:
            raise ValueError("auto_predict_f0: so-vits-svc 3.0 models have no F0 predictor")
        g = self.speaker_embedding(sid, c.device)
        x_mask = sequence_mask(torch.tensor([c.shape[-1]], device=c.device), c.shape[-1]).unsqueeze(1).to(c.dtype)
        x = self.enc_p_.pre(c) * x_mask
        z_p = self.enc_p_(x, x_mask, coarse_v3(f0), noise_scale, generator)
        z = self.flow.reverse(z_p, x_mask, g)
        return self.dec(z * x_mask, f0, g, generator), f0
