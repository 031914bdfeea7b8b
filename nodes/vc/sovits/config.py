"""so-vits-svc 3.0/4.0/4.1 config.json: the network's constructor arguments, rate, hop, speakers and speech
encoder, as plain data (no torch), so the node can resolve and check a model without loading its network.

Which version a config is comes from graph_engine.models.detect.sovits_version (one rule for the model
manager and the node): 3.0 (32 kHz / 48 kHz, HuBERT-Soft) shares 4.0's keys but has a 320-sample hop.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from haysay.graph_engine.models.checkpoint_limits import CheckpointError, read_config_text
from haysay.graph_engine.models.detect import sovits_version
from haysay.nodes.vc.content.encoder_specs import SPEECH_ENCODERS as SPEECH_ENCODER_SPECS
from haysay.nodes.vc.content.encoder_specs import speech_encoder_spec


@dataclass(frozen=True)
class SovitsConfig:
    inter_channels: int = 192
    hidden_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    resblock: str = "1"
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2, 2)
    upsample_initial_channel: int = 512
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4, 4)
    gin_channels: int = 768
    ssl_dim: int = 768
    n_speakers: int = 200
    sampling_rate: int = 44100
    vol_embedding: bool = False
    use_automatic_f0_prediction: bool = True
    n_flow_layer: int = 4
    speakers: dict = field(default_factory=dict, compare=False, hash=False)


# speech encoder -> (layer, through final_proj, feature dims); layer None: the encoder's final output
SPEECH_ENCODERS = {name: (s.layer, s.final_proj, s.dims) for name, s in SPEECH_ENCODER_SPECS.items()}
# how content frames are stretched onto the f0 grid: upstream's "left" hold, or an F.interpolate mode
UNIT_INTERPOLATE_MODES = ("left", "nearest", "nearest-exact", "linear", "area")
# so-vits-svc 3.0's models.py builds its decoder from these, not from config.json (SynthesizerTrn.__init__)
V3_DECODER = {"inter_channels": 192, "resblock": "1", "resblock_kernel_sizes": (3, 7, 11),
              "resblock_dilation_sizes": ((1, 3, 5), (1, 3, 5), (1, 3, 5)), "upsample_rates": (10, 8, 2, 2),
              "upsample_initial_channel": 512, "upsample_kernel_sizes": (16, 16, 4, 4), "gin_channels": 256}
# what 3.0's SynthesizerTrn(**hps.model) needs (its positional arguments)
V3_REQUIRED = ("inter_channels", "hidden_channels", "filter_channels", "n_heads", "n_layers", "kernel_size",
               "p_dropout", "resblock", "resblock_kernel_sizes", "resblock_dilation_sizes", "upsample_rates",
               "upsample_initial_channel", "upsample_kernel_sizes", "gin_channels", "ssl_dim", "n_speakers")
V3_RATES = (32000, 48000)
UNSUPPORTED = {"use_depthwise_conv": True, "use_transformer_flow": True, "flow_share_parameter": True}


@dataclass
class SovitsModelInfo:
    config: SovitsConfig
    version: str              # "3.0", "4.0" or "4.1"
    speech_encoder: str
    hop_length: int
    unit_interpolate_mode: str
    speakers: dict[str, int]

    @property
    def encoder_layer(self) -> tuple[int | None, bool, int]:
        return SPEECH_ENCODERS[self.speech_encoder]


def read_sovits_config(path: str | Path) -> SovitsModelInfo:
    path = Path(path)
    text = read_config_text(path, "config.json not found (so-vits-svc models need the config.json they were "
                                  "trained with, beside G_*.pth or given as `config`)")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointError(path, f"not valid JSON ({exc})") from None
    model, data = raw.get("model"), raw.get("data")
    if not isinstance(model, dict) or not isinstance(data, dict):
        raise CheckpointError(path, "missing 'model' or 'data' section: not a so-vits-svc config")
    for key, bad in UNSUPPORTED.items():
        if model.get(key) == bad:
            raise CheckpointError(path, f"model.{key} = {bad} is not supported by haysay's so-vits adapter yet")
    if model.get("vocoder_name", "nsf-hifigan") != "nsf-hifigan":
        raise CheckpointError(path, f"vocoder {model.get('vocoder_name')!r} is not supported (only nsf-hifigan)")
    version = sovits_version(model, data)
    if version == "3.0":
        return _read_v3(path, raw, model, data)
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
    if hop != math.prod(cfg.upsample_rates):
        raise CheckpointError(path, f"data.hop_length {hop} differs from the decoder's upsampling "
                                    f"{math.prod(cfg.upsample_rates)}")
    mode = data.get("unit_interpolate_mode") or "left"
    if mode not in UNIT_INTERPOLATE_MODES:
        raise CheckpointError(path, f"data.unit_interpolate_mode {mode!r} is not one of "
                                    f"{', '.join(UNIT_INTERPOLATE_MODES)}")
    return SovitsModelInfo(cfg, version, encoder, hop, mode,
                           {str(k): int(v) for k, v in speakers.items()})


def _read_v3(path: Path, raw: dict, model: dict, data: dict) -> SovitsModelInfo:
    for key in V3_REQUIRED:
        if key not in model:
            raise CheckpointError(path, f"model.{key} is missing (so-vits-svc 3.0's SynthesizerTrn needs it)")
    for section, key in (("data", "sampling_rate"), ("data", "filter_length"), ("train", "segment_size")):
        if key not in (raw.get(section) or {}):
            raise CheckpointError(path, f"{section}.{key} is missing (so-vits-svc 3.0's inference reads it)")
    rate = data["sampling_rate"]
    if rate not in V3_RATES:
        raise CheckpointError(path, f"data.sampling_rate {rate!r}: so-vits-svc 3.0 models are 32000 or 48000 Hz")
    for key in ("inter_channels", "gin_channels"):  # the fixed decoder reads these sizes from the flow
        if model[key] != V3_DECODER[key]:
            raise CheckpointError(path, f"model.{key} {model[key]!r}: so-vits-svc 3.0's decoder is built for "
                                        f"{V3_DECODER[key]}")
    if model["ssl_dim"] != 256:
        raise CheckpointError(path, f"model.ssl_dim {model['ssl_dim']!r}: so-vits-svc 3.0 reads 256-dim "
                                    "HuBERT-Soft units")
    ints = {}
    for key in ("hidden_channels", "filter_channels", "n_heads", "n_speakers"):
        value = model[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise CheckpointError(path, f"model.{key} must be a positive integer, not {value!r}")
        ints[key] = value
    if ints["hidden_channels"] % ints["n_heads"]:
        raise CheckpointError(path, f"model.n_heads {ints['n_heads']} does not divide model.hidden_channels "
                                    f"{ints['hidden_channels']}")
    speakers = raw.get("spk") or {}
    cfg = SovitsConfig(inter_channels=V3_DECODER["inter_channels"], gin_channels=V3_DECODER["gin_channels"],
                       ssl_dim=256, sampling_rate=int(rate), vol_embedding=False,
                       use_automatic_f0_prediction=False, n_flow_layer=4, speakers=dict(speakers),
                       resblock=V3_DECODER["resblock"], resblock_kernel_sizes=V3_DECODER["resblock_kernel_sizes"],
                       resblock_dilation_sizes=V3_DECODER["resblock_dilation_sizes"],
                       upsample_rates=V3_DECODER["upsample_rates"],
                       upsample_initial_channel=V3_DECODER["upsample_initial_channel"],
                       upsample_kernel_sizes=V3_DECODER["upsample_kernel_sizes"], **ints)
    return SovitsModelInfo(cfg, "3.0", "hubertsoft", math.prod(V3_DECODER["upsample_rates"]), "left",
                           {str(k): int(v) for k, v in speakers.items()})
