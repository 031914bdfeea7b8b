"""WavLM (so-vits `wavlmbase+`) on torchaudio's `wavlm_model`, from Microsoft's checkpoint names.

Microsoft publishes `WavLM-Base+.pt` as {"cfg": dict, "model": state dict} with fairseq-style
names (separate q/k/v projections, `grep_linear`/`grep_a` for the gated relative position
bias, `relative_attention_bias` on layer 0 only). so-vits takes the last layer's output
(768 dims for Base+, 50 fps at 16 kHz), layer-normalising the waveform first when
cfg.normalize is set. No file I/O here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchaudio.models import wavlm_model

from haysay.nodes.vc.content.checkpoint import FAIRSEQ_SHARED, rename_by_rules
from haysay.nodes.vc.content.hubert import BASE_CONV


@dataclass(frozen=True)
class WavLMConfig:
    embed_dim: int = 768
    num_layers: int = 12
    num_heads: int = 12
    ff_dim: int = 3072
    conv_layers: tuple[tuple[int, int, int], ...] = field(default=BASE_CONV)
    conv_bias: bool = False
    extractor_mode: str = "group_norm"
    layer_norm_first: bool = False
    pos_conv_kernel: int = 128
    pos_conv_groups: int = 16
    num_buckets: int = 320
    max_distance: int = 800
    normalize: bool = False


class WavLMEncoder(nn.Module):
    def __init__(self, cfg: WavLMConfig):
        super().__init__()
        self.cfg = cfg
        self.model = wavlm_model(
            extractor_mode=cfg.extractor_mode, extractor_conv_layer_config=[list(c) for c in cfg.conv_layers],
            extractor_conv_bias=cfg.conv_bias, encoder_embed_dim=cfg.embed_dim, encoder_projection_dropout=0.0,
            encoder_pos_conv_kernel=cfg.pos_conv_kernel, encoder_pos_conv_groups=cfg.pos_conv_groups,
            encoder_num_layers=cfg.num_layers, encoder_num_heads=cfg.num_heads, encoder_num_buckets=cfg.num_buckets,
            encoder_max_distance=cfg.max_distance, encoder_attention_dropout=0.0,
            encoder_ff_interm_features=cfg.ff_dim, encoder_ff_interm_dropout=0.0, encoder_dropout=0.0,
            encoder_layer_norm_first=cfg.layer_norm_first, encoder_layer_drop=0.0, aux_num_out=None)
        conv = self.model.encoder.transformer.pos_conv_embed.conv
        if torch.nn.utils.parametrize.is_parametrized(conv):
            # Weights arrive with the norm already folded in (see safe_load.fold_weight_norm).
            torch.nn.utils.parametrize.remove_parametrizations(conv, "weight")

    @torch.no_grad()
    def features(self, wav16k: torch.Tensor, layer: int | None = None, final_proj: bool = False) -> torch.Tensor:
        """(batch, samples) at 16 kHz -> (batch, frames, embed_dim); default: the last layer, as
        WavLM.extract_features gives it (with the closing layer norm of pre-norm models)."""
        if final_proj:
            raise ValueError("WavLM has no final_proj layer")
        last = self.cfg.num_layers
        layer = layer or last
        if not 1 <= layer <= last:
            raise ValueError(f"layer {layer} is outside 1..{last} of this WavLM encoder")
        if self.cfg.normalize:
            wav16k = F.layer_norm(wav16k, wav16k.shape[-1:])
        outputs, _ = self.model.extract_features(wav16k, num_layers=layer)
        x = outputs[-1]
        if self.cfg.layer_norm_first and layer == last:
            x = self.model.encoder.transformer.layer_norm(x)
        return x


def config_from_microsoft(cfg: dict[str, Any], state: dict[str, torch.Tensor]) -> WavLMConfig:
    """WavLMConfig from the checkpoint's cfg dict (fairseq names); ValueError naming what cannot run."""
    from haysay.nodes.vc.content.checkpoint import _conv_layers_from_spec

    if not cfg.get("relative_position_embedding", False) or not cfg.get("gru_rel_pos", False):
        raise ValueError("cfg has relative_position_embedding/gru_rel_pos off; only WavLM's gated relative "
                         "position bias (Base, Base+, Large) is supported")
    if cfg.get("activation_fn", "gelu") != "gelu":
        raise ValueError(f"cfg.activation_fn {cfg.get('activation_fn')!r} is not supported (only gelu)")
    if "post_extract_proj.weight" not in state:
        raise ValueError("no post_extract_proj: conv features already the embedding size is not supported")
    spec = cfg.get("conv_feature_layers", "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2")
    conv = _conv_layers_from_spec(spec)
    if conv is None:
        raise ValueError(f"cannot read cfg.conv_feature_layers {spec!r}")
    return WavLMConfig(
        embed_dim=int(cfg.get("encoder_embed_dim", 768)), num_layers=int(cfg.get("encoder_layers", 12)),
        num_heads=int(cfg.get("encoder_attention_heads", 12)), ff_dim=int(cfg.get("encoder_ffn_embed_dim", 3072)),
        conv_layers=conv, conv_bias=bool(cfg.get("conv_bias", False)),
        extractor_mode="layer_norm" if cfg.get("extractor_mode", "default") == "layer_norm" else "group_norm",
        layer_norm_first=bool(cfg.get("layer_norm_first", False)), pos_conv_kernel=int(cfg.get("conv_pos", 128)),
        pos_conv_groups=int(cfg.get("conv_pos_groups", 16)), num_buckets=int(cfg.get("num_buckets", 320)),
        max_distance=int(cfg.get("max_distance", 1280)), normalize=bool(cfg.get("normalize", False)))


def microsoft_config(cfg: WavLMConfig) -> dict[str, Any]:
    """The cfg dict Microsoft's checkpoints carry, for a WavLMConfig (test checkpoints)."""
    return {"extractor_mode": "default" if cfg.extractor_mode == "group_norm" else "layer_norm",
            "encoder_layers": cfg.num_layers, "encoder_embed_dim": cfg.embed_dim,
            "encoder_ffn_embed_dim": cfg.ff_dim, "encoder_attention_heads": cfg.num_heads,
            "activation_fn": "gelu", "layer_norm_first": cfg.layer_norm_first,
            "conv_feature_layers": " + ".join(f"[{tuple(c)}]" for c in cfg.conv_layers),
            "conv_bias": cfg.conv_bias, "normalize": cfg.normalize, "conv_pos": cfg.pos_conv_kernel,
            "conv_pos_groups": cfg.pos_conv_groups, "relative_position_embedding": True,
            "num_buckets": cfg.num_buckets, "max_distance": cfg.max_distance, "gru_rel_pos": True,
            "dropout": 0.1, "attention_dropout": 0.1, "encoder_layerdrop": 0.05, "mask_prob": 0.65}


_RULES = FAIRSEQ_SHARED + [
    (r"^encoder\.layers\.(\d+)\.self_attn\.out_proj\.(weight|bias)$",
     r"model.encoder.transformer.layers.\1.attention.attention.out_proj.\2"),
    (r"^encoder\.layers\.(\d+)\.self_attn\.grep_linear\.(weight|bias)$",
     r"model.encoder.transformer.layers.\1.attention.gru_rel_pos_linear.\2"),
    (r"^encoder\.layers\.(\d+)\.self_attn\.grep_a$", r"model.encoder.transformer.layers.\1.attention.gru_rel_pos_const"),
    (r"^encoder\.layers\.(\d+)\.self_attn\.relative_attention_bias\.weight$",
     r"model.encoder.transformer.layers.\1.attention.rel_attn_embed.weight"),
]
_QKV = re.compile(r"^encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)$")
IGNORED = ("mask_emb", "label_embs_concat", "final_proj.")


def microsoft_state_to_encoder(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Microsoft names -> WavLMEncoder names (q/k/v fused into in_proj, q first); also unknown keys.
    Weight-norm pairs must already be folded; ValueError for a q/k/v set with a part missing."""
    out, unknown, qkv = {}, [], {}
    for key, value in state.items():
        if key.startswith(IGNORED):
            continue
        m = _QKV.match(key)
        if m:
            qkv.setdefault((m[1], m[3]), {})[m[2]] = value
            continue
        new = rename_by_rules(key, _RULES)
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    for (layer, kind), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            missing = ", ".join(f"encoder.layers.{layer}.self_attn.{p}_proj.{kind}" for p in "qkv" if p not in parts)
            raise ValueError(f"missing weights {missing}")
        out[f"model.encoder.transformer.layers.{layer}.attention.attention.in_proj_{kind}"] = torch.cat(
            [parts["q"], parts["k"], parts["v"]])
    return out, unknown


def encoder_state_to_microsoft(encoder: WavLMEncoder) -> dict[str, torch.Tensor]:
    """The inverse, as Microsoft's checkpoint names it (for writing test checkpoints)."""
    own = encoder.state_dict()
    out: dict[str, torch.Tensor] = {"mask_emb": torch.zeros(encoder.cfg.embed_dim)}
    for key, value in own.items():
        m = re.match(r"^model\.encoder\.transformer\.layers\.(\d+)\.attention\.attention\.in_proj_(weight|bias)$", key)
        if m:
            for p, part in zip("qkv", value.chunk(3)):
                out[f"encoder.layers.{m[1]}.self_attn.{p}_proj.{m[2]}"] = part.clone()
            continue
        k = key
        k = re.sub(r"^model\.feature_extractor\.conv_layers\.(\d+)\.conv\.", r"feature_extractor.conv_layers.\1.0.", k)
        k = re.sub(r"^model\.feature_extractor\.conv_layers\.(\d+)\.layer_norm\.",
                   r"feature_extractor.conv_layers.\1.2." + ("1." if encoder.cfg.extractor_mode == "layer_norm" else ""), k)
        k = k.replace("model.encoder.feature_projection.layer_norm.", "layer_norm.")
        k = k.replace("model.encoder.feature_projection.projection.", "post_extract_proj.")
        k = k.replace("model.encoder.transformer.pos_conv_embed.conv.", "encoder.pos_conv.0.")
        k = k.replace("model.encoder.transformer.layer_norm.", "encoder.layer_norm.")
        k = re.sub(r"^model\.encoder\.transformer\.layers\.(\d+)\.attention\.attention\.out_proj\.",
                   r"encoder.layers.\1.self_attn.out_proj.", k)
        k = re.sub(r"^model\.encoder\.transformer\.layers\.(\d+)\.attention\.gru_rel_pos_linear\.",
                   r"encoder.layers.\1.self_attn.grep_linear.", k)
        k = re.sub(r"^model\.encoder\.transformer\.layers\.(\d+)\.attention\.gru_rel_pos_const$",
                   r"encoder.layers.\1.self_attn.grep_a", k)
        k = re.sub(r"^model\.encoder\.transformer\.layers\.(\d+)\.attention\.rel_attn_embed\.",
                   r"encoder.layers.\1.self_attn.relative_attention_bias.", k)
        k = re.sub(r"^model\.encoder\.transformer\.layers\.(\d+)\.layer_norm\.", r"encoder.layers.\1.self_attn_layer_norm.", k)
        k = re.sub(r"^model\.encoder\.transformer\.layers\.(\d+)\.feed_forward\.intermediate_dense\.",
                   r"encoder.layers.\1.fc1.", k)
        k = re.sub(r"^model\.encoder\.transformer\.layers\.(\d+)\.feed_forward\.output_dense\.", r"encoder.layers.\1.fc2.", k)
        k = re.sub(r"^model\.encoder\.transformer\.layers\.(\d+)\.final_layer_norm\.", r"encoder.layers.\1.final_layer_norm.", k)
        if k == "encoder.pos_conv.0.weight":
            out["encoder.pos_conv.0.weight_g"] = value.norm(dim=(0, 1), keepdim=True)
            out["encoder.pos_conv.0.weight_v"] = value.clone()
            continue
        out[k] = value.clone()
    return out
