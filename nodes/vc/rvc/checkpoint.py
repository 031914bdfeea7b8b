"""Reading (and, for tests and benchmarks, writing) RVC WebUI model files.

An exported RVC model is a torch pickle of a dict:
    weight   state dict of the synthesizer without enc_q (usually fp16)
    config   the synthesizer's positional constructor arguments (see models.CONFIG_FIELDS)
    f0       1 with pitch guidance, 0 without
    version  "v1" (256-dim HuBERT final_proj features) or "v2" (768-dim layer 12)
    sr       "32k" / "40k" / "48k"
    info     free text (training epoch)
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from haysay.nodes.vc.rvc.models import CONFIG_FIELDS, RVCConfig, RVCSynthesizer, rvc_synthesizer
from haysay.nodes.vc.safe_load import CheckpointError, build_checked, safe_torch_load, split_weight_norm

# Layers upstream wraps in weight_norm: they are stored as weight_g / weight_v.
WEIGHT_NORMED = re.compile(r"^(dec\.ups\.\d+|dec\.resblocks\.\d+\.convs\d?\.\d+|"
                           r"flow\.flows\.\d+\.enc\.(in_layers\.\d+|res_skip_layers\.\d+|cond_layer))\.weight$")


@dataclass
class RVCCheckpoint:
    path: Path
    version: str
    f0: bool
    sample_rate: int
    config: RVCConfig
    weights: dict[str, torch.Tensor]
    info: str = ""

    @property
    def n_speakers(self) -> int:
        return self.config.spk_embed_dim


def looks_like_rvc(obj: Any) -> bool:
    """Whether a loaded pickle has the RVC export layout (for architecture detection)."""
    return isinstance(obj, dict) and isinstance(obj.get("weight"), dict) and isinstance(obj.get("config"), (list, tuple))


def read_rvc_checkpoint(path: str | Path) -> RVCCheckpoint:
    """Load and check an RVC `.pth`; raises CheckpointError naming the file and the problem."""
    path = Path(path)
    obj = safe_torch_load(path, "RVC model")
    if not isinstance(obj, dict):
        raise CheckpointError(path, f"expected a dict with 'weight' and 'config', got {type(obj).__name__}")
    if "model" in obj and "weight" not in obj:
        raise CheckpointError(path, "this is a training checkpoint (G_*.pth with 'model'), not an exported RVC "
                                    "model; export the small model from the RVC WebUI (or use vc.sovits)")
    for key, kind in (("weight", dict), ("config", (list, tuple))):
        if not isinstance(obj.get(key), kind):
            raise CheckpointError(path, f"missing or malformed '{key}' entry: not an RVC model file")
    weights = {k: v for k, v in obj["weight"].items() if isinstance(v, torch.Tensor)}
    cfg_list = list(obj["config"])
    if len(cfg_list) != len(CONFIG_FIELDS):
        raise CheckpointError(path, f"'config' has {len(cfg_list)} entries; RVC models have {len(CONFIG_FIELDS)}")
    if "emb_g.weight" not in weights:
        raise CheckpointError(path, "missing weight emb_g.weight (speaker embedding)")
    cfg_list[-3] = int(weights["emb_g.weight"].shape[0])  # upstream trusts the embedding over the config
    try:
        cfg = RVCConfig.from_list(cfg_list)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(path, f"malformed 'config': {exc}") from None
    version = str(obj.get("version", "v1"))
    if version not in ("v1", "v2"):
        raise CheckpointError(path, f"unknown RVC version {version!r} (v1 or v2)")
    f0 = bool(int(obj.get("f0", 1)))
    phone = weights.get("enc_p.emb_phone.weight")
    if phone is not None and phone.dim() == 2:
        want = 256 if version == "v1" else 768
        if phone.shape[1] != want:
            raise CheckpointError(path, f"version {version} expects {want}-dim content features but "
                                        f"enc_p.emb_phone.weight takes {phone.shape[1]}")
    return RVCCheckpoint(path, version, f0, int(cfg.sr), cfg, weights, str(obj.get("info", "")))


def _to_weight_dtype(layer: torch.nn.Module, args: tuple) -> tuple:
    return tuple(a.to(layer.weight.dtype) for a in args)


def build_rvc_model(ckpt: RVCCheckpoint, device: str = "cpu", half: bool = False) -> RVCSynthesizer:
    """The synthesizer for a read checkpoint, weights loaded (float32, or float16 with `half`; eval mode)."""
    model = build_checked(lambda: rvc_synthesizer(ckpt.config, ckpt.version, ckpt.f0), ckpt.weights, ckpt.path,
                          ignore_prefixes=("enc_q.",))
    model = model.eval().to(device)
    if half:
        model = model.half()
        if model.use_f0:
            # the sine source is computed from float32 f0 and, as upstream does, cast to the merge layer's dtype
            model.dec.m_source.l_linear.register_forward_pre_hook(_to_weight_dtype)
    return model


def load_rvc_model(path: str | Path, device: str = "cpu", half: bool = False) -> tuple[RVCCheckpoint, RVCSynthesizer]:
    ckpt = read_rvc_checkpoint(path)
    return ckpt, build_rvc_model(ckpt, device, half)


def upstream_state_dict(model: torch.nn.Module, pattern: re.Pattern = WEIGHT_NORMED,
                        half: bool = True) -> dict[str, torch.Tensor]:
    """The model's weights laid out as upstream stores them (weight-normed layers as weight_g/weight_v)."""
    out = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu()
        if pattern.match(key):
            g, v = split_weight_norm(value)
            out[key[:-len("weight")] + "weight_g"], out[key[:-len("weight")] + "weight_v"] = g, v
        else:
            out[key] = value
    return {k: (v.half() if half and v.is_floating_point() else v) for k, v in out.items()}


def save_rvc_checkpoint(path: str | Path, model: RVCSynthesizer, version: str, info: str = "") -> Path:
    """Write `model` as the RVC WebUI exports it (fp16 weights, positional config)."""
    path = Path(path)
    cfg = model.cfg
    sr_label = f"{cfg.sr // 1000}k"
    torch.save({"weight": upstream_state_dict(model), "config": cfg.to_list(), "info": info or "0epoch",
                "sr": sr_label, "f0": int(model.use_f0), "version": version}, path)
    return path
