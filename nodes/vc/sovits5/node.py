"""vc.sovits5: convert a voice with a so-vits-svc 5.0 model (PlayVoice/whisper-vits-svc sovits5.0.pth)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, FEATURES, FileParam, Port, node
from haysay.graph_engine.values import Audio, Features
from haysay.nodes.vc.resolve import (ModelRefError, content_digest, file_size, pooled, resolve_content_encoder,
                                  resolve_model)

# torch, torchcrepe and the networks are imported where the node runs: registering it stays light
CONFIG_NAMES = ("config.yaml", "base.yaml", "sovits5.0.yaml")
WHISPER_PREFER = ("large-v2", "whisper")
HUBERT_PREFER = ("soft",)


class Sovits5Params(BaseModel):
    """Defaults are upstream's svc_inference.py."""
    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., min_length=1, title="Model",
                       description="Installed so-vits-svc 5.0 model name, or sovits5.0.pth (svc_export.py) / a "
                                   "training checkpoint .pt")
    config: Annotated[str, FileParam((".yaml", ".yml"))] = Field(
        "", title="Config", description="The model's YAML (configs/base.yaml layout); default: config.yaml or "
                                        "base.yaml beside the weights")
    speaker: Annotated[str, FileParam((".npy",))] = Field(
        "", title="Speaker file", description="Speaker embedding .spk.npy (upstream data_svc/singer/*.spk.npy, "
                                              "256 values); used when no speaker features are connected")
    shift: float = Field(0.0, ge=-24.0, le=24.0, title="Pitch shift", description="Transposition (upstream "
                         "--shift)", json_schema_extra={"unit": "semitones"})
    f0_method: Literal["crepe", "pm", "harvest", "dio", "rmvpe", "fcpe"] = Field(
        "crepe", title="Pitch tracker", description="crepe = upstream's (torchcrepe full, 20 ms hop, 5-frame mean); "
        "the others are haysay's generic trackers at 10 ms (upstream has only crepe)")
    whisper_encoder: str = Field("", title="Whisper encoder", description="Installed content encoder name or "
                                 "path of Whisper large-v2.pt (whisper_pretrain/); default: the installed one")
    hubert_encoder: str = Field("", title="HuBERT-Soft encoder", description="Installed content encoder name or "
                                "path of hubert-soft-0d54a1f4.pt (hubert_pretrain/); default: the installed one")
    seed: int = Field(0, ge=0, title="Seed", description="Noise seed (mel dither, pitch dither, NSF source, "
                                                        "prior sample): output is reproducible")


def _weights_and_config(params: Sovits5Params) -> tuple[Path, Path]:
    path, installed = resolve_model(params.model, "model", "sovits5")
    if installed is not None:
        weights = installed.file("weights")
        config = Path(params.config) if params.config else installed.file("config")
        return weights, config
    if path.is_dir():
        found = sorted(path.glob("*.pth")) or sorted(path.glob("*.pt"))
        if not found:
            raise ModelRefError("model", f"no .pth or .pt in {path}")
        path = found[0]
    if params.config:
        return path, Path(params.config)
    for name in CONFIG_NAMES:
        if (path.parent / name).is_file():
            return path, path.parent / name
    raise ModelRefError("config", f"no {' / '.join(CONFIG_NAMES)} beside {path.name}: give the model's YAML")


def _encoder(ref: str, prefer: tuple[str, ...], field: str) -> Path:
    try:
        return resolve_content_encoder(ref, prefer)
    except ModelRefError as exc:
        raise ModelRefError(field, str(exc).split(": ", 1)[-1]) from None


def sovits5_models(params: Sovits5Params) -> dict[str, str]:
    """The model files a run reads, by content (the cache key holds these)."""
    weights, config = _weights_and_config(params)
    out = {"model": content_digest(weights), "config": content_digest(config) if config.is_file() else "none"}
    if params.speaker:
        out["speaker"] = content_digest(params.speaker)
    for field, ref, prefer in (("whisper_encoder", params.whisper_encoder, WHISPER_PREFER),
                               ("hubert_encoder", params.hubert_encoder, HUBERT_PREFER)):
        try:
            out[field] = content_digest(_encoder(ref, prefer, field))
        except ModelRefError:
            out[field] = "none"  # refused when the node runs, naming the field
    return out


def sovits5_shape(params: Sovits5Params, shapes):
    src = shapes.get("audio")
    if src is None:
        return None
    n = src.frames * 16000 // src.sample_rate // 320 * 2  # 100/s frames from 50/s content
    return src.with_(frames=max(n * 320 - 1, 0), channels=1, sample_rate=32000)


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _speaker(params: Sovits5Params, speaker: Features | None, spk_dim: int) -> np.ndarray:
    from haysay.nodes.vc.safe_load import CheckpointError
    from haysay.nodes.vc.sovits5.checkpoint import read_speaker

    if speaker is not None and params.speaker:
        raise ModelRefError("speaker", "give either connected speaker features or a speaker file, not both")
    if speaker is not None:
        data = np.asarray(speaker.data, np.float32).reshape(-1, speaker.data.shape[-1])
        if data.shape[-1] != spk_dim or not np.isfinite(data).all():
            raise ModelRefError("speaker", f"connected speaker features have {data.shape[-1]} dims; this model's "
                                           f"speaker embedding has {spk_dim}")
        return data.mean(0)
    if not params.speaker:
        raise ModelRefError("speaker", "give a speaker embedding file (.spk.npy) or connect speaker features")
    try:
        return read_speaker(params.speaker, spk_dim)
    except CheckpointError as exc:
        raise ModelRefError("speaker", _problem(exc)) from None


def _content_encoder(ref: str, prefer: tuple[str, ...], field: str, name: str, device: str, report: dict):
    from haysay.nodes.vc.content.speech_encoders import read_speech_encoder
    from haysay.nodes.vc.safe_load import CheckpointError

    path = _encoder(ref, prefer, field)
    try:
        return pooled(name, path, device, lambda: read_speech_encoder(path, name).to(device),
                      file_size(path) * 2, report)
    except CheckpointError as exc:
        raise ModelRefError(field, _problem(exc)) from None


def _problem(exc) -> str:
    """A CheckpointError as the file's name and the problem (no server path)."""
    return f"{Path(exc.path).name}: {exc.problem}"


# Measured peak RSS of a CPU run (base.yaml synthesizer, HuBERT-Soft and a width-1280 Whisper of 4 layers, random
# weights; /proc ru_maxrss, 2026-12-03): +2673 MiB on 10 s of 16 kHz input, +2740 MiB on 30 s, +3513 MiB on 60 s.
# The steepest stretch (30 -> 60 s) is ~1700 B per 16 kHz input sample (whole-input PPG, units, f0 and excitation;
# Whisper, HuBERT and synthesis go in bounded pieces). The fixed part adds the 28 Whisper large-v2 layers the
# measurement left out (551 M params, 2.1 GiB in fp32) to the ~2.4 GiB measured.
SOVITS5_FIXED_MB = 5500
BYTES_PER_16K_SAMPLE = 1700.0


def sovits5_memory(params: Sovits5Params, shapes) -> float:
    return BYTES_PER_16K_SAMPLE * sum(s.frames * 16000 / s.sample_rate for s in shapes.values())


@node("vc.sovits5", inputs=[Port("audio", AUDIO, description="Speech or singing to convert"),
                            Port("speaker", FEATURES, optional=True,
                                 description="Speaker embedding frames (256 dims, averaged) instead of a .spk.npy")],
      outputs={"audio": AUDIO}, params=Sovits5Params, category="vc", title="so-vits-svc 5.0 conversion",
      gpu=True, memory_mb=SOVITS5_FIXED_MB, memory=sovits5_memory, tags=("neural", "sovits5"),
      fingerprint=sovits5_models, shape=sovits5_shape,
      lifecycle={"upstream": "PlayVoice/whisper-vits-svc", "versions": ("5.0",), "status": "supported",
                 "licence": "MIT"})
def sovits5(params: Sovits5Params, audio: Audio, ctx, speaker: Features | None = None):
    """Convert a voice with a so-vits-svc 5.0 model: Whisper large-v2 PPG + HuBERT-Soft units + crepe pitch of
    the input (16 kHz), the target speaker's 256-d embedding, synthesized at the model's rate (32 kHz) as
    upstream's svc_inference.py does (feature retrieval off). The content encoders are separate installed
    models."""
    import soxr
    import torch

    from haysay.nodes.vc.pitch import track_f0
    from haysay.nodes.vc.safe_load import CheckpointError
    from haysay.nodes.vc.sovits5.checkpoint import build_sovits5_model, read_sovits5_checkpoint
    from haysay.nodes.vc.sovits5.pipeline import (crepe_f0, hubert_units, repeat_frames, shift_f0, synthesize,
                                                  whisper_ppg)

    device = _device()
    weights, config = _weights_and_config(params)
    report: dict = {}
    try:
        model = pooled("sovits5", weights, device,
                       lambda: build_sovits5_model(read_sovits5_checkpoint(weights, config), device),
                       file_size(weights) * 2, report)
    except CheckpointError as exc:
        raise ModelRefError("config" if Path(exc.path) == config else "model", _problem(exc)) from None
    spk = _speaker(params, speaker, model.cfg.spk_dim)
    whisper = _content_encoder(params.whisper_encoder, WHISPER_PREFER, "whisper_encoder", "whisper-ppg-large",
                               device, report)
    hubert = _content_encoder(params.hubert_encoder, HUBERT_PREFER, "hubert_encoder", "hubertsoft", device, report)
    if whisper.dims.n_audio_state != model.cfg.ppg_dim:
        raise ModelRefError("whisper_encoder", f"the Whisper encoder gives {whisper.dims.n_audio_state} dims; this "
                                               f"model's ppg_dim is {model.cfg.ppg_dim} (large-v2: 1280)")
    ctx.progress(0.2, "models loaded")
    x = audio.mono().astype(np.float64)
    # librosa.load(sr=16000), as upstream reads its input, resamples with soxr HQ
    wav = (soxr.resample(x, audio.sample_rate, 16000, quality="HQ") if audio.sample_rate != 16000 else x).astype(np.float32)
    if len(wav) < 2 * 320:
        raise ModelRefError("audio", f"input is too short: {len(wav) / 16000:.3f} s")
    gen = torch.Generator().manual_seed(params.seed)
    ppg = repeat_frames(whisper_ppg(whisper, wav, gen))
    vec = repeat_frames(hubert_units(hubert, wav))
    ctx.progress(0.5, "content extracted")
    if params.f0_method == "crepe":
        f0 = crepe_f0(wav, device, gen)
    else:
        f0 = track_f0(wav, 16000, params.f0_method, 0.01, len(wav) // 320 * 2, device)
    f0 = shift_f0(f0, params.shift)
    ctx.progress(0.6, "pitch extracted")
    y = synthesize(model, ppg, vec, f0, spk, gen)
    ctx.info["model_load"] = report
    voiced = f0[f0 > 0]
    ctx.info["sovits5"] = {"sample_rate": model.cfg.sampling_rate, "frames": int(min(len(ppg), len(vec), len(f0))),
                           "median_f0_hz": float(np.median(voiced)) if voiced.size else 0.0, "device": device}
    ctx.progress(1.0, "done")
    return Audio(y[None, :].astype(np.float32), model.cfg.sampling_rate)
