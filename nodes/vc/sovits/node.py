"""vc.sovits: convert a voice with a so-vits-svc 4.0/4.1 model (G_*.pth + config.json)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import soxr
import torch
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, node
from haysay.graph_engine.values import Audio
from haysay.nodes.vc.content.speech_encoders import read_speech_encoder, speech_encoder_spec
from haysay.nodes.vc.resolve import ModelRefError, file_size, pooled, resolve_content_encoder, resolve_model
from haysay.nodes.vc.sovits.checkpoint import build_sovits_model, read_kmeans, read_sovits_config
from haysay.nodes.vc.sovits.pipeline import SovitsOptions, convert_sovits


class SovitsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., min_length=1, description="Installed so-vits-svc model name, or path to G_*.pth "
                                                      "(config.json beside it)")
    config: str = Field("", description="config.json path if not beside the weights")
    content_encoder: str = Field("", description="Installed speech encoder name or path to the file the "
                                                 "config's speech_encoder needs: ContentVec "
                                                 "checkpoint_best_legacy_500.pt / a transformers folder (vec*), "
                                                 "hubert-soft-0d54a1f4.pt, chinese-hubert-large, WavLM-Base+.pt, "
                                                 "whisper medium.pt / large-v2.pt")
    speaker: str = Field("", description="Speaker name from the config's spk map (default: the first)")
    transpose: float = Field(0.0, ge=-48.0, le=48.0, description="Pitch shift",
                             json_schema_extra={"unit": "semitones"})
    f0_method: Literal["pm", "harvest", "dio", "crepe", "crepe-tiny", "fcpe", "rmvpe"] = Field(
        "pm", description="Pitch tracker (pm = Praat autocorrelation; rmvpe = RVC's neural tracker, needs "
              "rmvpe.pt installed: haysay models install rmvpe.pt, or HAYSAY_RMVPE=path)")
    noise_scale: float = Field(0.4, ge=0.0, le=2.0, description="Prior noise scale (variation in timbre)")
    auto_predict_f0: bool = Field(False, description="Let the model predict the pitch (speech only; off for singing)")
    cluster_model: str = Field("", description="kmeans_*.pt path; default: the installed model's own, if any")
    cluster_ratio: float = Field(0.0, ge=0.0, le=1.0, description="Pull features toward the speaker's "
                                                                   "k-means centres (timbre vs. clarity)")
    seed: int = Field(52468, ge=0, description="Noise seed (upstream's default)")


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _weights_and_config(params: SovitsParams):
    path, installed = resolve_model(params.model, "model", "sovits")
    if installed is not None:
        weights, config = installed.file("weights"), installed.file("config")
        kmeans = installed.find("kmeans")
    else:
        weights = path
        if path.is_dir():
            gens = sorted(path.glob("G_*.pth"), key=lambda p: p.stat().st_mtime)
            if not gens:
                raise ModelRefError("model", f"no G_*.pth in {path}")
            weights = gens[-1]
        config, kmeans = weights.parent / "config.json", None
    if params.config:
        config = Path(params.config)
    if params.cluster_model:
        kmeans = Path(params.cluster_model)
        if not kmeans.is_file():
            raise ModelRefError("cluster_model", f"file not found: {kmeans}")
    return weights, Path(config), kmeans


@node("vc.sovits", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=SovitsParams, category="vc",
      title="so-vits-svc voice conversion", gpu=True, memory_mb=1500, tags=("neural", "sovits"))
def sovits(params: SovitsParams, audio: Audio, ctx):
    """Convert speech or singing to a so-vits-svc 4.0/4.1 voice: ContentVec/HuBERT content, pitch with
    transpose (or predicted), optional k-means cluster blending, speaker chosen by name."""
    device = _device()
    report: dict = {}
    weights, config, kmeans = _weights_and_config(params)
    info = read_sovits_config(config)
    model = pooled("sovits", weights, device, lambda: build_sovits_model(weights, info, device),
                   file_size(weights) * 2, report)
    ctx.progress(0.1, "model loaded")
    spec = speech_encoder_spec(info.speech_encoder)
    enc_path = resolve_content_encoder(params.content_encoder, spec.prefer)
    # HuBERT-family encoders share the RVC adapter's pool entry; the others are pooled per family
    kind = "content_encoder" if spec.family == "hubert" else f"speech_encoder.{spec.family}"
    encoder = pooled(kind, enc_path, device, lambda: read_speech_encoder(enc_path, info.speech_encoder).to(device),
                     file_size(enc_path) * 2, report)
    centers = None
    if kmeans is not None and params.cluster_ratio > 0:
        centers = pooled("kmeans", kmeans, "cpu", lambda: read_kmeans(kmeans), file_size(kmeans) * 2, report)
    ctx.progress(0.2, "content encoder loaded")
    sr = info.config.sampling_rate
    x = audio.mono().astype(np.float64)
    wav = soxr.resample(x, audio.sample_rate, sr) if audio.sample_rate != sr else x
    opts = SovitsOptions(speaker=params.speaker, transpose=params.transpose, f0_method=params.f0_method,
                         noise_scale=params.noise_scale, auto_predict_f0=params.auto_predict_f0,
                         cluster_ratio=params.cluster_ratio, seed=params.seed)
    result = convert_sovits(wav, model, info, encoder, opts, centers, device)
    ctx.info["model_load"] = report
    ctx.info["sovits"] = {"version": info.version, "speech_encoder": info.speech_encoder, "device": device,
                          **result.info}
    ctx.progress(1.0, "done")
    return Audio(result.audio[None, :], result.sample_rate)
