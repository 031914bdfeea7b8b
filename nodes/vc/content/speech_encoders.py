"""so-vits-svc 4.1 speech encoders: which network each `speech_encoder` name means, and reading
the file users have for it (through safe_load's restricted weights-only loader).

Every encoder takes 16 kHz audio and gives 50 frames per second (one per 320 samples).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from haysay.nodes.vc.content.encoder_specs import (  # noqa: F401  (re-exported)
    _FAMILY_NAMES, REFUSED, SPEECH_ENCODERS, SpeechEncoderSpec, speech_encoder_spec)
from haysay.nodes.vc.content.checkpoint import _config_from_weights, _fairseq, read_content_encoder
from haysay.nodes.vc.content.hubert import ContentEncoder
from haysay.nodes.vc.content.soft import SOFT_HEADS, SoftHubert, soft_state_to_encoder
from haysay.nodes.vc.content.wavlm import WavLMEncoder, config_from_microsoft, microsoft_state_to_encoder
from haysay.nodes.vc.content.whisper import WhisperDims, WhisperEncoder
from haysay.nodes.vc.safe_load import CheckpointError, fold_weight_norm, inert_to_dict, load_into, safe_torch_load


def _keys(obj: Any) -> set[str]:
    return {k for k in obj if isinstance(k, str)} if isinstance(obj, dict) else set()


def checkpoint_family(obj: Any) -> str | None:
    """Which encoder family a loaded checkpoint object is (None: not one of them)."""
    top = _keys(obj)
    if {"dims", "model_state_dict"} <= top:
        return "whisper"
    inner = obj.get("hubert") if isinstance(obj, dict) and isinstance(obj.get("hubert"), dict) else obj
    if any(k.endswith("feature_extractor.conv0.weight") for k in _keys(inner)):
        return "hubert_soft"
    model = _keys(obj.get("model")) if isinstance(obj, dict) else set()
    if any(".self_attn.grep_linear." in k or ".self_attn.relative_attention_bias." in k for k in model):
        return "wavlm"
    if any(k.startswith(("feature_extractor.conv_layers.", "encoder.layers.")) for k in model):
        return "hubert"
    return None


def _family_of_file(path: Path) -> tuple[str | None, Any]:
    if path.is_dir() or path.name in ("pytorch_model.bin", "model.safetensors", "config.json"):
        return "hubert", None  # transformers folders are HuBERT-shaped (read_content_encoder checks the rest)
    obj = safe_torch_load(path, "content encoder")
    return checkpoint_family(obj), obj


def _soft(obj: Any, path: Path) -> SoftHubert:
    state = obj["hubert"] if isinstance(obj.get("hubert"), dict) else obj
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()
             if isinstance(v, torch.Tensor)}
    mapped, unknown = soft_state_to_encoder(fold_weight_norm(state))
    if unknown:
        raise CheckpointError(path, f"unexpected weights {', '.join(unknown[:5])}: not a HuBERT-Soft checkpoint")
    if "final_proj.weight" not in mapped:
        raise CheckpointError(path, "missing weight proj.weight (the soft-unit projection)")
    cfg = _config_from_weights(mapped, {"num_heads": SOFT_HEADS}, path)
    encoder = SoftHubert(cfg)
    load_into(encoder, mapped, path)
    return encoder.eval()


def _wavlm(obj: Any, path: Path) -> WavLMEncoder:
    cfg = inert_to_dict(obj.get("cfg"))
    if not isinstance(cfg, dict):
        raise CheckpointError(path, "WavLM checkpoint without its 'cfg' dict")
    state = fold_weight_norm({k: v for k, v in obj["model"].items() if isinstance(v, torch.Tensor)})
    try:
        encoder = WavLMEncoder(config_from_microsoft(cfg, state))
        mapped, unknown = microsoft_state_to_encoder(state)
    except (ValueError, AssertionError) as exc:
        raise CheckpointError(path, str(exc)) from None
    if unknown:
        raise CheckpointError(path, f"unexpected weights {', '.join(unknown[:5])}: not a WavLM checkpoint")
    load_into(encoder, mapped, path)
    return encoder.eval()


def _whisper(obj: Any, path: Path) -> WhisperEncoder:
    raw = obj["dims"]
    if not isinstance(raw, dict):
        raise CheckpointError(path, "'dims' is not a dict of model dimensions")
    try:
        dims = WhisperDims(**{k: int(raw[k]) for k in ("n_mels", "n_audio_ctx", "n_audio_state", "n_audio_head",
                                                         "n_audio_layer")})
        encoder = WhisperEncoder(dims)
    except KeyError as exc:
        raise CheckpointError(path, f"dims lacks {exc.args[0]}") from None
    except ValueError as exc:
        raise CheckpointError(path, str(exc)) from None
    state = {k[len("encoder."):]: v for k, v in obj["model_state_dict"].items()
             if isinstance(k, str) and k.startswith("encoder.") and isinstance(v, torch.Tensor)}
    state.setdefault("positional_embedding", encoder.positional_embedding.clone())  # fixed sinusoids
    load_into(encoder, state, path)
    return encoder.eval()


def read_speech_encoder(path: str | Path, name: str) -> nn.Module:
    """The encoder so-vits `speech_encoder` `name` needs, read from `path`; CheckpointError when the
    file is another encoder family (naming both) or not an encoder at all."""
    path = Path(path)
    spec = speech_encoder_spec(name)
    family, obj = _family_of_file(path)
    if family != spec.family:
        found = f"a {_FAMILY_NAMES[family]} checkpoint" if family else "not a speech encoder checkpoint"
        raise CheckpointError(path, f"{found}, but speech_encoder {name!r} needs {_FAMILY_NAMES[spec.family]} "
                                    f"({spec.files})")
    if family == "hubert":
        return read_content_encoder(path) if obj is None else _fairseq(obj, path)
    if family == "hubert_soft":
        return _soft(obj, path)
    if family == "wavlm":
        return _wavlm(obj, path)
    return _whisper(obj, path)


@torch.no_grad()
def speech_features(encoder: nn.Module, name: str, wav16k: torch.Tensor) -> torch.Tensor:
    """(1, samples) at 16 kHz -> (1, frames, dims) as so-vits `name` extracts them."""
    spec = speech_encoder_spec(name)
    if spec.family == "hubert" and isinstance(encoder, ContentEncoder) and spec.layer is None:
        last = encoder.cfg.num_layers
        x = encoder.features(wav16k, last, spec.final_proj)
        # fairseq applies the encoder's closing layer norm after the last layer of pre-norm models
        return encoder.model.encoder.transformer.layer_norm(x) if encoder.cfg.layer_norm_first else x
    return encoder.features(wav16k, spec.layer, spec.final_proj)
