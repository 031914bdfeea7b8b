"""Reading so-vits-svc 3.0/4.0/4.1 files: G_*.pth (+ config.json beside it) and kmeans_*.pt cluster models.

G_*.pth is a torch pickle of {"model": state dict, "iteration", "optimizer", "learning_rate"};
config.json's "model" section holds the network's constructor arguments, "data" the
sampling rate and hop, "spk" the speaker-name -> id map. 4.1 configs name their
`speech_encoder` (vec256l9 / vec768l12 / ...); 4.0 configs have none and mean vec256l9; 3.0 configs
(32k/48k) have none and mean HuBERT-Soft.
"""
from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

from haysay.nodes.vc.safe_load import CheckpointError, build_checked, safe_torch_load, split_weight_norm
from haysay.nodes.vc.sovits.config import (  # noqa: F401  (re-exported)
    SPEECH_ENCODERS, UNIT_INTERPOLATE_MODES, UNSUPPORTED, SovitsConfig, SovitsModelInfo, read_sovits_config)
from haysay.nodes.vc.sovits.models import SovitsSynthesizer
from haysay.nodes.vc.sovits.models_v3 import SovitsV3Synthesizer

WEIGHT_NORMED = re.compile(r"^(dec\.conv_pre|dec\.conv_post|dec\.ups\.\d+|dec\.resblocks\.\d+\.convs\d?\.\d+|"
                           r"flow\.flows\.\d+\.enc\.(in_layers\.\d+|res_skip_layers\.\d+|cond_layer))\.weight$")


def read_sovits_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The generator's state dict from a G_*.pth; CheckpointError for anything else."""
    path = Path(path)
    obj = safe_torch_load(path, "so-vits-svc model")
    if isinstance(obj, dict) and "weight" in obj and "config" in obj:
        raise CheckpointError(path, "this is an RVC model (has 'weight' and 'config'); use vc.rvc")
    if not isinstance(obj, dict) or not isinstance(obj.get("model"), dict):
        raise CheckpointError(path, "missing or malformed 'model' entry: not a so-vits-svc G_*.pth")
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj["model"].items()
             if isinstance(v, torch.Tensor)}
    if not any(k.startswith("dec.") for k in state):
        raise CheckpointError(path, "no decoder weights (dec.*): is this a discriminator D_*.pth?")
    return state


def build_sovits_model(weights_path: str | Path, info: SovitsModelInfo, device: str = "cpu") -> SovitsSynthesizer:
    state = read_sovits_checkpoint(weights_path)
    if "emb_vol.weight" in state and not info.config.vol_embedding:
        raise CheckpointError(weights_path, "weights have emb_vol (volume embedding) but config.json says "
                                            "vol_embedding false")
    ignore = ("enc_q.",) + (() if info.config.use_automatic_f0_prediction else ("f0_decoder.",))
    v3 = info.version == "3.0"
    if v3 != ("enc_p_.pre.weight" in state or "enc_p_.pre.weight_v" in state):
        theirs = "3.0 (enc_p_.pre)" if not v3 else "4.x (no enc_p_.pre)"
        raise CheckpointError(weights_path, f"config.json describes a so-vits-svc {info.version} model but the "
                                            f"weights are {theirs}")
    net = SovitsV3Synthesizer if v3 else SovitsSynthesizer
    model = build_checked(lambda: net(info.config), state, weights_path, ignore_prefixes=ignore)
    return model.eval().to(device)


def read_kmeans(path: str | Path) -> dict[str, np.ndarray]:
    """Cluster centres per speaker from a so-vits kmeans_*.pt ({spk: {"cluster_centers_": array, ...}})."""
    path = Path(path)
    obj = safe_torch_load(path, "cluster model")
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(path, "expected a dict of speaker -> k-means state")
    centers = {}
    for spk, km in obj.items():
        c = km.get("cluster_centers_") if isinstance(km, dict) else None
        if c is None:
            raise CheckpointError(path, f"speaker {spk!r} has no cluster_centers_")
        arr = np.asarray(c.numpy() if isinstance(c, torch.Tensor) else c, dtype=np.float32)
        if arr.ndim != 2:
            raise CheckpointError(path, f"speaker {spk!r}: cluster_centers_ has shape {arr.shape}, expected 2-D")
        centers[str(spk)] = arr
    return centers


def save_sovits_files(folder: str | Path, model: SovitsSynthesizer, version: str = "4.1",
                      speech_encoder: str = "vec768l12", iteration: int = 1000) -> tuple[Path, Path]:
    """Write `model` as training leaves it: G_<iteration>.pth (fp32, with optimizer, the dict upstream's
    utils.save_checkpoint writes) and config.json (for "3.0", the 32k/48k branches' preprocess_flist_config
    template; the prior encoder's n_layers/kernel_size there are what upstream writes, and ignores)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = model.cfg
    state = {}
    for key, value in model.state_dict().items():
        if WEIGHT_NORMED.match(key):
            g, v = split_weight_norm(value)
            state[key[:-6] + "weight_g"], state[key[:-6] + "weight_v"] = g, v
        else:
            state[key] = value.clone()
    optimizer = {"state": {0: {"step": torch.tensor(10.0), "exp_avg": torch.zeros(2)}},
                 "param_groups": [{"lr": 1e-4, "betas": (0.8, 0.99), "eps": 1e-9, "params": [0]}]}
    weights = folder / f"G_{iteration}.pth"
    torch.save({"model": state, "iteration": iteration, "optimizer": optimizer, "learning_rate": 1e-4}, weights)
    if version == "3.0":
        return weights, _write_v3_config(folder, cfg)
    model_section = {f.name: getattr(cfg, f.name) for f in fields(SovitsConfig)
                     if f.name not in ("speakers", "sampling_rate")}
    model_section.update({"p_dropout": 0.1, "n_layers_q": 3, "use_spectral_norm": False, "vocoder_name": "nsf-hifigan",
                          "speaker_embedding": False, "use_depthwise_conv": False, "flow_share_parameter": False,
                          "use_transformer_flow": False})
    if version == "4.1":
        model_section["speech_encoder"] = speech_encoder
    else:
        for key in ("vol_embedding", "use_automatic_f0_prediction", "n_flow_layer"):
            model_section.pop(key)
    config = {"train": {"segment_size": 10240, "seed": 1234},
              "data": {"sampling_rate": cfg.sampling_rate, "hop_length": int(np.prod(cfg.upsample_rates)),
                       "filter_length": 2048, "win_length": 2048, "n_mel_channels": 80,
                       **({"unit_interpolate_mode": "nearest"} if version == "4.1" else {})},
              "model": json.loads(json.dumps(model_section)),
              "spk": cfg.speakers or {f"speaker{i}": i for i in range(cfg.n_speakers)}}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return weights, folder / "config.json"


def _write_v3_config(folder: Path, cfg: SovitsConfig) -> Path:
    model_section = {"inter_channels": cfg.inter_channels, "hidden_channels": cfg.hidden_channels,
                     "filter_channels": cfg.filter_channels, "n_heads": cfg.n_heads, "n_layers": 6, "kernel_size": 3,
                     "p_dropout": 0.1, "resblock": "1", "resblock_kernel_sizes": [3, 7, 11],
                     "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "upsample_rates": [10, 8, 2, 2],
                     "upsample_initial_channel": 512, "upsample_kernel_sizes": [16, 16, 4, 4], "n_layers_q": 3,
                     "use_spectral_norm": False, "gin_channels": cfg.gin_channels, "ssl_dim": cfg.ssl_dim,
                     "n_speakers": cfg.n_speakers}
    config = {"train": {"segment_size": 17920, "seed": 1234, "max_speclen": 384},
              "data": {"max_wav_value": 32768.0, "sampling_rate": cfg.sampling_rate, "filter_length": 1280,
                       "hop_length": 320, "win_length": 1280, "n_mel_channels": 80, "mel_fmin": 0.0, "mel_fmax": None},
              "model": model_section,
              "spk": cfg.speakers or {f"speaker{i}": i for i in range(cfg.n_speakers)}}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder / "config.json"
