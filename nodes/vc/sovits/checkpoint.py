"""Reading so-vits-svc 4.0/4.1 files: G_*.pth (+ config.json beside it) and kmeans_*.pt cluster models.

G_*.pth is a torch pickle of {"model": state dict, "iteration", "optimizer", "learning_rate"};
config.json's "model" section holds the network's constructor arguments, "data" the
sampling rate and hop, "spk" the speaker-name -> id map. 4.1 configs name their
`speech_encoder` (vec256l9 / vec768l12 / ...); 4.0 configs have none and mean vec256l9.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from haysay.nodes.vc.content.speech_encoders import SPEECH_ENCODERS as SPEECH_ENCODER_SPECS
from haysay.nodes.vc.content.speech_encoders import speech_encoder_spec
from haysay.nodes.vc.safe_load import CheckpointError, build_checked, safe_torch_load, split_weight_norm
from haysay.nodes.vc.sovits.models import SovitsConfig, SovitsSynthesizer

# speech encoder -> (layer, through final_proj, feature dims); layer None: the encoder's final output
SPEECH_ENCODERS = {name: (s.layer, s.final_proj, s.dims) for name, s in SPEECH_ENCODER_SPECS.items()}
# how content frames are stretched onto the f0 grid: upstream's "left" hold, or an F.interpolate mode
UNIT_INTERPOLATE_MODES = ("left", "nearest", "nearest-exact", "linear", "area")
UNSUPPORTED = {"use_depthwise_conv": True, "use_transformer_flow": True, "flow_share_parameter": True}
WEIGHT_NORMED = re.compile(r"^(dec\.conv_pre|dec\.conv_post|dec\.ups\.\d+|dec\.resblocks\.\d+\.convs\d?\.\d+|"
                           r"flow\.flows\.\d+\.enc\.(in_layers\.\d+|res_skip_layers\.\d+|cond_layer))\.weight$")


@dataclass
class SovitsModelInfo:
    config: SovitsConfig
    version: str              # "4.0" or "4.1"
    speech_encoder: str
    hop_length: int
    unit_interpolate_mode: str
    speakers: dict[str, int]

    @property
    def encoder_layer(self) -> tuple[int | None, bool, int]:
        return SPEECH_ENCODERS[self.speech_encoder]


def read_sovits_config(path: str | Path) -> SovitsModelInfo:
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(path, "config.json not found (so-vits-svc models need the config.json they were "
                                    "trained with, beside G_*.pth or given as `config`)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(path, f"not valid JSON ({exc})") from None
    model, data = raw.get("model"), raw.get("data")
    if not isinstance(model, dict) or not isinstance(data, dict):
        raise CheckpointError(path, "missing 'model' or 'data' section: not a so-vits-svc config")
    for key, bad in UNSUPPORTED.items():
        if model.get(key) == bad:
            raise CheckpointError(path, f"model.{key} = {bad} is not supported by haysay's so-vits adapter yet")
    if model.get("vocoder_name", "nsf-hifigan") != "nsf-hifigan":
        raise CheckpointError(path, f"vocoder {model.get('vocoder_name')!r} is not supported (only nsf-hifigan)")
    version = "4.1" if "speech_encoder" in model else "4.0"
    encoder = model.get("speech_encoder", "vec256l9")
    try:
        speech_encoder_spec(encoder)
    except ValueError as exc:
        raise CheckpointError(path, f"model.{exc}") from None
    names = {f.name for f in fields(SovitsConfig)}
    kw: dict[str, Any] = {k: v for k, v in model.items() if k in names}
    kw["sampling_rate"] = int(data.get("sampling_rate", 44100))
    for key in ("resblock_kernel_sizes", "upsample_rates", "upsample_kernel_sizes"):
        if key in kw:
            kw[key] = tuple(int(v) for v in kw[key])
    if "resblock_dilation_sizes" in kw:
        kw["resblock_dilation_sizes"] = tuple(tuple(int(v) for v in d) for d in kw["resblock_dilation_sizes"])
    kw["resblock"] = str(kw.get("resblock", "1"))
    speakers = raw.get("spk") or {}
    kw["speakers"] = dict(speakers)
    try:
        cfg = SovitsConfig(**kw)
    except TypeError as exc:
        raise CheckpointError(path, f"malformed model section: {exc}") from None
    hop = int(data.get("hop_length", 512))
    if hop != int(np.prod(cfg.upsample_rates)):
        raise CheckpointError(path, f"data.hop_length {hop} differs from the decoder's upsampling "
                                    f"{int(np.prod(cfg.upsample_rates))}")
    mode = data.get("unit_interpolate_mode") or "left"
    if mode not in UNIT_INTERPOLATE_MODES:
        raise CheckpointError(path, f"data.unit_interpolate_mode {mode!r} is not one of "
                                    f"{', '.join(UNIT_INTERPOLATE_MODES)}")
    return SovitsModelInfo(cfg, version, encoder, hop, mode,
                           {str(k): int(v) for k, v in speakers.items()})


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
    model = build_checked(lambda: SovitsSynthesizer(info.config), state, weights_path, ignore_prefixes=ignore)
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
    """Write `model` as training leaves it: G_<iteration>.pth (fp32, with optimizer) and config.json."""
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
