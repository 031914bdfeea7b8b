"""Reading so-vits-svc 4.1's extra model files: the shallow-diffusion model and the NSF-HiFiGAN vocoder.

`diffusion/model_*.pt` is a torch pickle of {"global_step", "model": Unit2Mel state dict[, "optimizer"]},
with `diffusion/config.yaml` (or a path the caller names) beside it. `pretrain/nsf_hifigan/model` is
{"generator": weight-normed state dict[, ...]} with `config.json` in the same folder. Both go through
`safe_torch_load`; the YAML through `yaml.safe_load`, which builds only plain data.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch

from haysay.nodes.vc.safe_load import CheckpointError, load_into, safe_torch_load
from haysay.nodes.vc.sovits.diffusion import DiffusionConfig, DiffusionModel, Unit2Mel
from haysay.nodes.vc.sovits.diffusion_sampling import SAMPLERS
from haysay.nodes.vc.vits.nsf_hifigan import NsfHifiGan, NsfHifiGanConfig

VOCODER_TYPES = {"nsf-hifigan": False, "nsf-hifigan-log10": True}  # type -> network reads log10 mels
_NSF_REQUIRED = ("sampling_rate", "num_mels", "n_fft", "win_size", "hop_size", "fmin", "fmax", "upsample_rates",
                 "upsample_kernel_sizes", "upsample_initial_channel", "resblock_kernel_sizes",
                 "resblock_dilation_sizes")


def read_diffusion_config(path: str | Path) -> dict[str, Any]:
    """config.yaml as plain dicts (no YAML tags are honoured)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "diffusion config does not exist (upstream keeps it as diffusion/config.yaml)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CheckpointError(path, f"not a readable YAML config ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), dict) or not isinstance(data.get("model"), dict):
        raise CheckpointError(path, "not a so-vits diffusion config: it needs `data` and `model` sections")
    return data


def _section(cfg: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = cfg.get(name)
    return value if isinstance(value, dict) else {}


def _int(section: Mapping[str, Any], key: str, default: int | None, path: Path) -> int:
    value = section.get(key, default)
    if value is None:
        value = default
    if value is None:
        raise CheckpointError(path, f"the config lacks {key}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise CheckpointError(path, f"config field {key} should be an integer, not {value!r}")
    return value


def load_diffusion(model_path: str | Path, config_path: str | Path | None = None,
                   device: str | torch.device = "cpu") -> DiffusionModel:
    """Build the diffusion model its config describes and load the checkpoint's weights into it.

    `config_path` defaults to config.yaml beside the model, as upstream's loader does. The mel size is
    taken from the weights (the vocoder's num_mels, 128 for the pretrained NSF-HiFiGAN).
    """
    model_path = Path(model_path)
    config_path = Path(config_path) if config_path else model_path.parent / "config.yaml"
    cfg = read_diffusion_config(config_path)
    data, model_cfg, infer, voc = (_section(cfg, k) for k in ("data", "model", "infer", "vocoder"))
    ckpt = safe_torch_load(model_path, "diffusion model")
    state = ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(model_path, "not a so-vits diffusion checkpoint: no `model` state dict")
    proj = state.get("decoder.denoise_fn.input_projection.weight")
    if not isinstance(proj, torch.Tensor) or proj.dim() != 3:
        raise CheckpointError(model_path, "not a so-vits diffusion checkpoint: no WaveNet denoiser weights")
    conf = DiffusionConfig(
        units=_int(data, "encoder_out_channels", None, config_path),
        n_spk=_int(model_cfg, "n_spk", 1, config_path),
        use_pitch_aug=bool(model_cfg.get("use_pitch_aug")),
        mel_bins=int(proj.shape[1]),
        n_layers=_int(model_cfg, "n_layers", 20, config_path),
        n_chans=_int(model_cfg, "n_chans", 384, config_path),
        n_hidden=_int(model_cfg, "n_hidden", 256, config_path),
        timesteps=_int(model_cfg, "timesteps", 1000, config_path),
        k_step_max=_int(model_cfg, "k_step_max", 0, config_path),
    )
    net = Unit2Mel(conf)
    load_into(net, state, model_path)
    method = str(infer.get("method") or "dpm-solver++")
    if method not in SAMPLERS:
        raise CheckpointError(config_path, f"infer.method {method!r} is not a sampler so-vits has; "
                                           f"use one of {', '.join(SAMPLERS)}")
    vtype = str(voc.get("type") or "nsf-hifigan")
    if vtype not in VOCODER_TYPES:
        raise CheckpointError(config_path, f"vocoder.type {vtype!r} is unknown; so-vits has {', '.join(VOCODER_TYPES)}")
    spk = cfg.get("spk") if isinstance(cfg.get("spk"), dict) else {}
    return DiffusionModel(
        net=net.eval().to(device),
        sample_rate=_int(data, "sampling_rate", 44100, config_path),
        block_size=_int(data, "block_size", 512, config_path),
        encoder=str(data.get("encoder") or "vec768l12"),
        unit_interpolate_mode=str(data.get("unit_interpolate_mode") or "left"),
        speedup=_int(infer, "speedup", 10, config_path),
        method=method,
        vocoder_type=vtype,
        vocoder_ckpt=str(voc.get("ckpt") or "pretrain/nsf_hifigan/model"),
        speakers={str(k): int(v) for k, v in spk.items()},
    )


def load_nsf_hifigan(path: str | Path, device: str | torch.device = "cpu",
                     vocoder_type: str = "nsf-hifigan") -> NsfHifiGan:
    """The NSF-HiFiGAN vocoder from its folder or its `model` file (config.json must sit beside it)."""
    path = Path(path)
    model_file = path / "model" if path.is_dir() else path
    config_file = model_file.parent / "config.json"
    if vocoder_type not in VOCODER_TYPES:
        raise CheckpointError(path, f"vocoder type {vocoder_type!r} is unknown; so-vits has {', '.join(VOCODER_TYPES)}")
    if not config_file.is_file():
        raise CheckpointError(config_file, "the NSF-HiFiGAN config.json is missing (it sits beside `model`)")
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(config_file, f"not a JSON config ({exc})") from None
    missing = [k for k in _NSF_REQUIRED if k not in raw] if isinstance(raw, dict) else list(_NSF_REQUIRED)
    if missing:
        raise CheckpointError(config_file, f"not an NSF-HiFiGAN config: it lacks {', '.join(missing)}")
    cfg = NsfHifiGanConfig.from_dict(raw)
    ckpt = safe_torch_load(model_file, "NSF-HiFiGAN vocoder")
    state = ckpt.get("generator") if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(model_file, "not an NSF-HiFiGAN checkpoint: no `generator` state dict")
    vocoder = NsfHifiGan(cfg, log10=VOCODER_TYPES[vocoder_type])
    load_into(vocoder.generator, state, model_file)
    return vocoder.eval().to(device)
