"""Reading so-vits-svc 5.0 models: the exported `sovits5.0.pth` (svc_export.save_model: {'model_g': state of
SynthesizerInfer}), a training checkpoint `.pt` (svc_trainer: 'model_g' holds the whole SynthesizerTrn,
whose training-only parts are dropped as upstream's load_svc_model drops them), or a plain state dict;
the config is upstream's YAML (configs/base.yaml layout: data / vits / gen sections), read with
yaml.safe_load. Weights go through safe_load's torch.load(weights_only=True); a file that does not fit is
refused naming the file and the field or weight.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from haysay.graph_engine.models.checkpoint_limits import read_yaml_config
from haysay.nodes.vc.safe_load import CheckpointError, build_checked, safe_torch_load
from haysay.nodes.vc.sovits5.models import Sovits5Config, Sovits5Synthesizer

# SynthesizerTrn parts inference never runs (speaker projection, GRL speaker classifier, posterior encoder)
TRAINING_PREFIXES = ("emb_g.", "speaker_classifier.", "enc_q.")
_SECTIONS = {"data": ("sampling_rate", "hop_length"),
             "vits": ("ppg_dim", "vec_dim", "spk_dim", "gin_channels", "inter_channels", "hidden_channels",
                      "filter_channels"),
             "gen": ("upsample_input", "upsample_rates", "upsample_kernel_sizes", "upsample_initial_channel",
                     "resblock_kernel_sizes", "resblock_dilation_sizes")}
_LISTS = {"upsample_rates": 1, "upsample_kernel_sizes": 1, "resblock_kernel_sizes": 1, "resblock_dilation_sizes": 2}


@dataclass
class Sovits5Checkpoint:
    path: Path
    config: Sovits5Config
    weights: dict[str, torch.Tensor]


def _int(path: Path, where: str, v: Any, lo: int, hi: int) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise CheckpointError(path, f"config '{where}' must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def _ints(path: Path, where: str, v: Any, depth: int) -> tuple:
    if not isinstance(v, (list, tuple)) or not v:
        raise CheckpointError(path, f"config '{where}' must be a non-empty list, got {v!r}")
    if depth == 2:
        return tuple(_ints(path, where, x, 1) for x in v)
    return tuple(_int(path, where, x, 1, 4096) for x in v)


def read_sovits5_config(path: str | Path) -> Sovits5Config:
    """Parse and check a whisper-vits-svc config YAML (configs/base.yaml layout)."""
    path = Path(path)
    obj = read_yaml_config(path, "config file not found (so-vits-svc 5.0 models come with configs/base.yaml)",
                           "expected data / vits / gen sections: not a so-vits-svc 5.0 config")
    values: dict[str, Any] = {}
    for section, names in _SECTIONS.items():
        sec = obj.get(section)
        if not isinstance(sec, dict):
            raise CheckpointError(path, f"config has no '{section}' section: not a so-vits-svc 5.0 config")
        for name in names:
            where = f"{section}.{name}"
            if name not in sec:
                raise CheckpointError(path, f"config '{where}' is missing")
            v = sec[name]
            if name in _LISTS:
                values[name] = _ints(path, where, v, _LISTS[name])
            elif name == "sampling_rate":
                values[name] = _int(path, where, v, 8000, 192000)
            else:
                values[name] = _int(path, where, v, 1, 8192)
    cfg = Sovits5Config(**values)
    if int(np.prod(cfg.upsample_rates)) != cfg.hop_length:
        raise CheckpointError(path, f"config 'gen.upsample_rates' upsample by {int(np.prod(cfg.upsample_rates))} "
                                    f"but 'data.hop_length' is {cfg.hop_length}")
    if len(cfg.upsample_rates) != len(cfg.upsample_kernel_sizes):
        raise CheckpointError(path, "config 'gen.upsample_rates' and 'gen.upsample_kernel_sizes' differ in length")
    if len(cfg.resblock_kernel_sizes) != len(cfg.resblock_dilation_sizes):
        raise CheckpointError(path, "config 'gen.resblock_kernel_sizes' and 'gen.resblock_dilation_sizes' "
                                    "differ in length")
    if cfg.upsample_input != cfg.inter_channels:
        raise CheckpointError(path, f"config 'gen.upsample_input' ({cfg.upsample_input}) must equal "
                                    f"'vits.inter_channels' ({cfg.inter_channels}): the decoder takes the flow's output")
    if cfg.hidden_channels % 2:
        raise CheckpointError(path, f"config 'vits.hidden_channels' ({cfg.hidden_channels}) must split into 2 heads")
    return cfg


def read_sovits5_checkpoint(weights: str | Path, config: str | Path) -> Sovits5Checkpoint:
    """Load `sovits5.0.pth` / a training `.pt` ('model_g') or a plain state dict, with its config YAML."""
    weights = Path(weights)
    cfg = read_sovits5_config(config)
    obj = safe_torch_load(weights, "so-vits-svc 5.0 checkpoint")
    if isinstance(obj, dict) and isinstance(obj.get("model_g"), dict):
        obj = obj["model_g"]
    if not isinstance(obj, dict) or not any(isinstance(k, str) and k.startswith("enc_p.") for k in obj):
        got = type(obj).__name__ if not isinstance(obj, dict) else f"keys {sorted(map(str, obj))[:6]}"
        raise CheckpointError(weights, f"expected a 'model_g' state dict with enc_p/flow/dec weights (got {got}): "
                                       "not a so-vits-svc 5.0 checkpoint")
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if "dec.adapter.W_scale.weight" not in state:
        raise CheckpointError(weights, "no dec.adapter weights: not a so-vits-svc 5.0 (BigVGAN) generator")
    return Sovits5Checkpoint(weights, cfg, state)


def build_sovits5_model(ckpt: Sovits5Checkpoint, device: str = "cpu") -> Sovits5Synthesizer:
    """The inference network with the checkpoint's weights (float32, eval); a config that does not fit the
    weights is refused before allocating."""
    model = build_checked(lambda: Sovits5Synthesizer(ckpt.config), ckpt.weights, ckpt.path,
                          ignore_prefixes=TRAINING_PREFIXES)
    return model.eval().to(device)


def read_speaker(path: str | Path, spk_dim: int) -> np.ndarray:
    """A speaker embedding `.spk.npy` (upstream prepare/preprocess_speaker*.py: np.save of a (spk_dim,)
    float array), read without pickle."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "speaker file does not exist")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise CheckpointError(path, f"not a numpy .npy array ({str(exc).splitlines()[0]})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f" or arr.size != spk_dim:
        raise CheckpointError(path, f"speaker embedding must be {spk_dim} float values, got "
                                    f"{getattr(arr, 'dtype', '?')} of shape {getattr(arr, 'shape', '?')}")
    arr = arr.reshape(spk_dim).astype(np.float32)
    if not np.isfinite(arr).all():
        raise CheckpointError(path, "speaker embedding holds NaN or infinite values")
    return arr

