"""HuBERT / ContentVec content encoder on torchaudio's wav2vec 2.0 architecture (no file I/O).

RVC v1 and so-vits vec256l9 take layer 9 through `final_proj` (256 dims);
RVC v2 and so-vits vec768l12 take layer 12 as is (768 dims). Both run at
16 kHz and give one frame per 320 samples (50 fps).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torchaudio.models import wav2vec2_model

SAMPLE_RATE = 16000
HOP = 320

BASE_CONV = ((512, 10, 5),) + ((512, 3, 2),) * 4 + ((512, 2, 2),) * 2


@dataclass(frozen=True)
class HubertConfig:
    embed_dim: int = 768
    num_layers: int = 12
    num_heads: int = 12
    ff_dim: int = 3072
    conv_layers: tuple[tuple[int, int, int], ...] = field(default=BASE_CONV)
    conv_bias: bool = False
    extractor_mode: str = "group_norm"  # "group_norm" (HuBERT base) or "layer_norm"
    layer_norm_first: bool = False
    pos_conv_kernel: int = 128
    pos_conv_groups: int = 16
    final_proj_dim: int | None = 256  # None: the checkpoint has no final_proj


class ContentEncoder(nn.Module):
    """wav2vec 2.0 / HuBERT encoder plus the optional `final_proj` projection."""

    def __init__(self, cfg: HubertConfig):
        super().__init__()
        self.cfg = cfg
        self.model = wav2vec2_model(
            extractor_mode=cfg.extractor_mode, extractor_conv_layer_config=[list(c) for c in cfg.conv_layers],
            extractor_conv_bias=cfg.conv_bias, encoder_embed_dim=cfg.embed_dim, encoder_projection_dropout=0.0,
            encoder_pos_conv_kernel=cfg.pos_conv_kernel, encoder_pos_conv_groups=cfg.pos_conv_groups,
            encoder_num_layers=cfg.num_layers, encoder_num_heads=cfg.num_heads, encoder_attention_dropout=0.0,
            encoder_ff_interm_features=cfg.ff_dim, encoder_ff_interm_dropout=0.0, encoder_dropout=0.0,
            encoder_layer_norm_first=cfg.layer_norm_first, encoder_layer_drop=0.0, aux_num_out=None)
        conv = self.model.encoder.transformer.pos_conv_embed.conv
        if torch.nn.utils.parametrize.is_parametrized(conv):
            # Weights arrive with the norm already folded in (see safe_load.fold_weight_norm).
            torch.nn.utils.parametrize.remove_parametrizations(conv, "weight")
        self.final_proj = nn.Linear(cfg.embed_dim, cfg.final_proj_dim) if cfg.final_proj_dim else None

    @property
    def num_layers(self) -> int:
        return self.cfg.num_layers

    @torch.no_grad()
    def features(self, wav16k: torch.Tensor, layer: int, final_proj: bool) -> torch.Tensor:
        """(batch, samples) at 16 kHz -> (batch, frames, dims): output of transformer layer `layer` (1-based)."""
        if not 1 <= layer <= self.cfg.num_layers:
            raise ValueError(f"layer {layer} is outside 1..{self.cfg.num_layers} of this content encoder")
        if final_proj and self.final_proj is None:
            raise ValueError("this content encoder has no final_proj layer (needed for 256-dim features)")
        graphs = getattr(self, "graphs", None)  # exported per-layer graphs (vc.backend), when attached
        x = graphs.layer_output(wav16k, layer) if graphs is not None else \
            self.model.extract_features(wav16k, num_layers=layer)[0][-1]
        return self.final_proj(x) if final_proj else x


def hubert_base_encoder(final_proj_dim: int | None = 256) -> ContentEncoder:
    """HuBERT-base / ContentVec-sized encoder (12 layers x 768) with random weights."""
    return ContentEncoder(HubertConfig(final_proj_dim=final_proj_dim))
