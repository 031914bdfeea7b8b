"""Reading OpenVoice converter folders (`checkpoint.pth` + `config.json`) and stored tone-colour embeddings.

Upstream's ToneColorConverter builds SynthesizerTrn from config.json and loads `checkpoint['model']`;
a speaker embedding is `torch.save` of a (1, gin_channels, 1) tensor (`extract_se(se_save_path=...)`).
Everything goes through `torch.load(weights_only=True)` (safe_load); a file that does not fit is refused
with its name and the problem.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from haysay.nodes.vc.openvoice.models import OpenVoiceConfig, ToneColourConverter
from haysay.graph_engine.models.checkpoint_limits import read_config_text
from haysay.nodes.vc.safe_load import CheckpointError, build_checked, safe_torch_load

_INT_FIELDS = ("inter_channels", "hidden_channels", "upsample_initial_channel", "gin_channels")
# parts of a TTS SynthesizerTrn a converter never builds (upstream loads with strict=False)
_TTS_PREFIXES = ("enc_p.", "sdp.", "dp.", "emb_g.")


@dataclass
class OpenVoiceCheckpoint:
    path: Path
    config: OpenVoiceConfig
    weights: dict[str, torch.Tensor]


def looks_like_openvoice_config(obj: Any) -> bool:
    """Whether a parsed config.json is an OpenVoice converter's (for model-manager detection):
    a data section with n_speakers 0 and a model section without text-encoder speakers."""
    if not isinstance(obj, dict):
        return False
    data, model = obj.get("data"), obj.get("model")
    return (isinstance(data, dict) and isinstance(model, dict) and data.get("n_speakers") == 0
            and "filter_length" in data and "hop_length" in data and "upsample_rates" in model
            and "gin_channels" in model and "ssl_dim" not in model and "n_layers_q" not in model)


def _ints(path: Path, name: str, value: Any, depth: int = 1) -> tuple:
    ok = isinstance(value, (list, tuple)) and value and (
        all(isinstance(v, int) and 0 < v < 4096 for v in value) if depth == 1
        else all(isinstance(v, (list, tuple)) and v and all(isinstance(x, int) and 0 < x < 4096 for x in v)
                 for v in value))
    if not ok:
        raise CheckpointError(path, f"config 'model.{name}' must be a non-empty list of positive integers"
                                    + (" lists" if depth == 2 else "") + f", got {value!r}")
    return tuple(tuple(v) for v in value) if depth == 2 else tuple(value)


def read_openvoice_config(path: str | Path) -> OpenVoiceConfig:
    """Parse and check a converter `config.json`."""
    path = Path(path)
    text = read_config_text(path, "config.json not found (an OpenVoice converter folder holds checkpoint.pth "
                                  "and config.json)")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointError(path, f"not valid JSON ({exc})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), dict) or not isinstance(obj.get("model"), dict):
        raise CheckpointError(path, "expected 'data' and 'model' sections: not an OpenVoice config")
    data, model = obj["data"], obj["model"]
    if data.get("n_speakers", 0) != 0:
        raise CheckpointError(path, f"data.n_speakers is {data.get('n_speakers')}: this is an OpenVoice base "
                                    "speaker TTS, not the tone-colour converter (n_speakers 0)")
    ints = {}
    for sec, name, lo, hi in (("data", "sampling_rate", 8000, 192000), ("data", "filter_length", 64, 8192),
                              ("data", "hop_length", 16, 4096), ("data", "win_length", 16, 8192),
                              *(("model", n, 1, 4096) for n in _INT_FIELDS)):
        v = (data if sec == "data" else model).get(name, getattr(OpenVoiceConfig, name))
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise CheckpointError(path, f"config '{sec}.{name}' must be an integer in [{lo}, {hi}], got {v!r}")
        ints[name] = v
    if ints["win_length"] > ints["filter_length"] or ints["hop_length"] > ints["filter_length"]:
        raise CheckpointError(path, "config 'data.win_length' and 'data.hop_length' must not exceed filter_length")
    resblock = str(model.get("resblock", "1"))
    if resblock not in ("1", "2"):
        raise CheckpointError(path, f"config 'model.resblock' must be \"1\" or \"2\", got {resblock!r}")
    cfg = OpenVoiceConfig(
        **ints, resblock=resblock,
        resblock_kernel_sizes=_ints(path, "resblock_kernel_sizes", model.get("resblock_kernel_sizes")),
        resblock_dilation_sizes=_ints(path, "resblock_dilation_sizes", model.get("resblock_dilation_sizes"), 2),
        upsample_rates=_ints(path, "upsample_rates", model.get("upsample_rates")),
        upsample_kernel_sizes=_ints(path, "upsample_kernel_sizes", model.get("upsample_kernel_sizes")),
        zero_g=bool(model.get("zero_g", False)), version=str(obj.get("_version_", "v1")))
    hop = 1
    for r in cfg.upsample_rates:
        hop *= r
    if hop != cfg.hop_length:
        raise CheckpointError(path, f"the decoder upsamples by {hop} but data.hop_length is {cfg.hop_length}")
    if len(cfg.upsample_rates) != len(cfg.upsample_kernel_sizes):
        raise CheckpointError(path, "config 'model.upsample_rates' and 'upsample_kernel_sizes' differ in length")
    if len(cfg.resblock_kernel_sizes) != len(cfg.resblock_dilation_sizes):
        raise CheckpointError(path, "config 'model.resblock_kernel_sizes' and 'resblock_dilation_sizes' differ "
                                    "in length")
    return cfg


def read_openvoice_checkpoint(weights: str | Path, config: str | Path | None = None) -> OpenVoiceCheckpoint:
    """Load a converter's `checkpoint.pth` (its 'model' state dict) with the `config.json` beside it."""
    weights = Path(weights)
    cfg = read_openvoice_config(Path(config) if config else weights.with_name("config.json"))
    obj = safe_torch_load(weights, "OpenVoice converter checkpoint")
    if not isinstance(obj, dict) or not isinstance(obj.get("model"), dict):
        got = type(obj).__name__ if not isinstance(obj, dict) else f"keys {sorted(obj)[:6]}"
        raise CheckpointError(weights, f"expected a dict with a 'model' state dict (got {got}): not an OpenVoice "
                                       "converter checkpoint")
    state = {k: v for k, v in obj["model"].items() if isinstance(v, torch.Tensor)}
    if not any(k.startswith("ref_enc.") for k in state):
        raise CheckpointError(weights, "no ref_enc weights: an OpenVoice base-speaker TTS or another VITS model, "
                                       "not the tone-colour converter")
    return OpenVoiceCheckpoint(weights, cfg, state)


def build_openvoice_model(ckpt: OpenVoiceCheckpoint, device: str = "cpu") -> ToneColourConverter:
    """The converter network with the checkpoint's weights (float32, eval mode); a config that does not
    fit the weights is refused before allocating."""
    model = build_checked(lambda: ToneColourConverter(ckpt.config), ckpt.weights, ckpt.path,
                          ignore_prefixes=_TTS_PREFIXES)
    return model.eval().to(device)


def read_embedding(path: str | Path, gin_channels: int) -> torch.Tensor:
    """A stored tone-colour embedding (upstream `extract_se(..., se_save_path)`) as (1, gin_channels, 1)."""
    path = Path(path)
    obj = safe_torch_load(path, "OpenVoice speaker embedding")
    if not isinstance(obj, torch.Tensor) or not obj.is_floating_point():
        raise CheckpointError(path, f"expected a float tensor (a saved tone-colour embedding), got "
                                    f"{type(obj).__name__ if not isinstance(obj, torch.Tensor) else obj.dtype}")
    if obj.numel() != gin_channels:
        raise CheckpointError(path, f"embedding has shape {tuple(obj.shape)}; this converter's embeddings have "
                                    f"{gin_channels} values (1, {gin_channels}, 1)")
    if not torch.isfinite(obj).all():
        raise CheckpointError(path, "embedding holds NaN or infinite values")
    return obj.float().reshape(1, gin_channels, 1)
