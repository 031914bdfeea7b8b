"""HuBERT-Soft (soft-VC, so-vits `hubertsoft`): HuBERT-base plus `proj` 768 -> 256 "soft units".

bshall/hubert writes the network as its own modules (conv0..conv6, nn.TransformerEncoderLayer
with a fused q/k/v `in_proj`, `proj`); the maths is HuBERT-base's, so the weights are renamed
onto torchaudio's wav2vec 2.0 modules (ContentEncoder) and `proj` becomes `final_proj`.
Release v0.1 (`hubert-soft-0d54a1f4.pt`, what so-vits uses) is a bare DDP state dict;
v0.2 (`hubert-soft-35d9f29f.pt`) nests it under "hubert". No file I/O here.
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F

from haysay.nodes.vc.content.checkpoint import rename_by_rules
from haysay.nodes.vc.content.hubert import ContentEncoder

SOFT_PAD = (400 - 320) // 2  # units() centres each 400-sample receptive field on its 320-sample hop
SOFT_HEADS = 12

_RULES = [
    (r"^feature_extractor\.conv(\d+)\.(weight|bias)$", r"model.feature_extractor.conv_layers.\1.conv.\2"),
    (r"^feature_extractor\.norm0\.(weight|bias)$", r"model.feature_extractor.conv_layers.0.layer_norm.\1"),
    (r"^feature_projection\.norm\.(weight|bias)$", r"model.encoder.feature_projection.layer_norm.\1"),
    (r"^feature_projection\.projection\.(weight|bias)$", r"model.encoder.feature_projection.projection.\1"),
    (r"^positional_embedding\.conv\.(weight|bias)$", r"model.encoder.transformer.pos_conv_embed.conv.\1"),
    (r"^norm\.(weight|bias)$", r"model.encoder.transformer.layer_norm.\1"),
    (r"^encoder\.layers\.(\d+)\.self_attn\.out_proj\.(weight|bias)$",
     r"model.encoder.transformer.layers.\1.attention.out_proj.\2"),
    (r"^encoder\.layers\.(\d+)\.linear1\.(weight|bias)$",
     r"model.encoder.transformer.layers.\1.feed_forward.intermediate_dense.\2"),
    (r"^encoder\.layers\.(\d+)\.linear2\.(weight|bias)$",
     r"model.encoder.transformer.layers.\1.feed_forward.output_dense.\2"),
    (r"^encoder\.layers\.(\d+)\.norm1\.(weight|bias)$", r"model.encoder.transformer.layers.\1.layer_norm.\2"),
    (r"^encoder\.layers\.(\d+)\.norm2\.(weight|bias)$", r"model.encoder.transformer.layers.\1.final_layer_norm.\2"),
    (r"^proj\.(weight|bias)$", r"final_proj.\1"),
]
_IN_PROJ = re.compile(r"^encoder\.layers\.(\d+)\.self_attn\.in_proj_(weight|bias)$")
IGNORED = ("masked_spec_embed", "label_embedding.")


class SoftHubert(ContentEncoder):
    """ContentEncoder whose features are HuBERT-Soft's `units()`: input padded 40 samples each side."""

    @torch.no_grad()
    def features(self, wav16k: torch.Tensor, layer: int | None = None, final_proj: bool = True) -> torch.Tensor:
        """(batch, samples) at 16 kHz -> (batch, frames, 256) soft units (last layer through `proj`)."""
        padded = F.pad(wav16k, (SOFT_PAD, SOFT_PAD))
        return super().features(padded, layer or self.cfg.num_layers, final_proj)


def soft_state_to_encoder(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """bshall names -> ContentEncoder names (fused in_proj split into q/k/v); also the keys no rule knows."""
    out, unknown = {}, []
    for key, value in state.items():
        if key.startswith(IGNORED):
            continue
        m = _IN_PROJ.match(key)
        if m:
            q, k, v = value.chunk(3, dim=0)
            base = f"model.encoder.transformer.layers.{m[1]}.attention"
            out.update({f"{base}.q_proj.{m[2]}": q, f"{base}.k_proj.{m[2]}": k, f"{base}.v_proj.{m[2]}": v})
            continue
        new = rename_by_rules(key, _RULES)
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    return out, unknown


_BACK = [
    (r"^model\.feature_extractor\.conv_layers\.(\d+)\.conv\.", r"feature_extractor.conv\1."),
    (r"^model\.feature_extractor\.conv_layers\.0\.layer_norm\.", "feature_extractor.norm0."),
    (r"^model\.encoder\.feature_projection\.layer_norm\.", "feature_projection.norm."),
    (r"^model\.encoder\.feature_projection\.projection\.", "feature_projection.projection."),
    (r"^model\.encoder\.transformer\.pos_conv_embed\.conv\.", "positional_embedding.conv."),
    (r"^model\.encoder\.transformer\.layer_norm\.", "norm."),
    (r"^model\.encoder\.transformer\.layers\.(\d+)\.attention\.out_proj\.", r"encoder.layers.\1.self_attn.out_proj."),
    (r"^model\.encoder\.transformer\.layers\.(\d+)\.feed_forward\.intermediate_dense\.", r"encoder.layers.\1.linear1."),
    (r"^model\.encoder\.transformer\.layers\.(\d+)\.feed_forward\.output_dense\.", r"encoder.layers.\1.linear2."),
    (r"^model\.encoder\.transformer\.layers\.(\d+)\.layer_norm\.", r"encoder.layers.\1.norm1."),
    (r"^model\.encoder\.transformer\.layers\.(\d+)\.final_layer_norm\.", r"encoder.layers.\1.norm2."),
    (r"^final_proj\.", "proj."),
]


def encoder_state_to_soft(encoder: ContentEncoder) -> dict[str, torch.Tensor]:
    """The inverse, as bshall's training saves it (for writing test checkpoints): fused in_proj,
    the position conv as weight_g/weight_v."""
    own = encoder.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, value in own.items():
        m = re.match(r"^model\.encoder\.transformer\.layers\.(\d+)\.attention\.([qkv])_proj\.(weight|bias)$", key)
        if m:
            if m[2] == "q":
                att = f"model.encoder.transformer.layers.{m[1]}.attention"
                out[f"encoder.layers.{m[1]}.self_attn.in_proj_{m[3]}"] = torch.cat(
                    [own[f"{att}.{p}_proj.{m[3]}"] for p in "qkv"]).clone()
            continue
        for pattern, repl in _BACK:
            new, n = re.subn(pattern, repl, key)
            if n:
                out[new] = value.clone()
                break
        else:
            raise KeyError(f"no HuBERT-Soft name for {key}")
    w = out.pop("positional_embedding.conv.weight")
    out["positional_embedding.conv.weight_g"] = w.norm(dim=(0, 1), keepdim=True)
    out["positional_embedding.conv.weight_v"] = w.clone()
    return out
