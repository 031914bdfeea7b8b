"""vc.sovits: convert a voice with a so-vits-svc 4.0/4.1 model (G_*.pth + config.json)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, node
from haysay.graph_engine.values import Audio
from haysay.nodes.vc.content.speech_encoders import read_speech_encoder, speech_encoder_spec
from haysay.nodes.vc.resolve import ModelRefError, file_size, pooled, resolve_content_encoder, resolve_model
from haysay.nodes.vc.sovits.checkpoint import build_sovits_model, read_kmeans, read_sovits_config
from haysay.nodes.vc.sovits.pipeline import SovitsOptions, convert_sovits
from haysay.nodes.vc.sovits.slicer import Slicing


class SovitsParams(BaseModel):
    """Defaults are so-vits-svc 4.1-Stable's inference_main.py (where its webUI differs, noted)."""
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
    speaker_mix: dict[str, float] = Field(default_factory=dict, description=(
        "Blend of speakers, name -> weight (normalised to sum 1; upstream's character mix held constant over "
        "the whole input). Empty: `speaker` alone. Not combinable with cluster_ratio"))
    speaker_mix_track: dict[str, list[tuple[float, float, float, float]]] = Field(default_factory=dict, description=(
        "Blend of speakers varying over the input, upstream's spkmix.py: name -> [[start, end, from, to], ...], "
        "start/end as fractions 0..1 of the input, the weight ramping from -> to; each speaker's segments "
        "follow on end to start; unlisted speakers weigh 0; normalised per frame"))
    transpose: float = Field(0.0, ge=-48.0, le=48.0, description="Pitch shift",
                             json_schema_extra={"unit": "semitones"})
    f0_method: Literal["pm", "harvest", "dio", "crepe", "crepe-tiny", "fcpe", "rmvpe"] = Field(
        "pm", description="Pitch tracker (pm = Praat autocorrelation; rmvpe = RVC's neural tracker, needs "
              "rmvpe.pt installed: haysay models install rmvpe.pt, or HAYSAY_RMVPE=path)")
    cr_threshold: float = Field(0.05, ge=0.0, le=1.0, description="F0 voicing threshold of the neural trackers "
                                                                  "(crepe, rmvpe, fcpe): lower = fewer off-key "
                                                                  "frames but more muted ones")
    f0_filter: bool = Field(False, description="Stop with an error when a chunk has no voiced frame instead of "
                                               "converting it on a flat pitch")
    noise_scale: float = Field(0.4, ge=0.0, le=2.0, description="Prior noise scale (variation in timbre)")
    auto_predict_f0: bool = Field(False, description="Let the model predict the pitch (speech only; off for "
                                                     "singing, where it goes badly off key; transpose then has no "
                                                     "effect)")
    cluster_model: str = Field("", description="kmeans_*.pt path; default: the installed model's own, if any")
    cluster_ratio: float = Field(0.0, ge=0.0, le=1.0, description="Pull features toward the speaker's "
                                                                   "k-means centres (timbre vs. clarity; about "
                                                                   "0.5 if used)")
    loudness_envelope_adjustment: float = Field(1.0, ge=0.0, le=1.0, description=(
        "Output loudness envelope: 1 = the model's own (off; inference_main's default), 0 = the input's "
        "(the webUI's default), between = a mix"))
    slice_db: float = Field(-40.0, ge=-120.0, le=0.0, description="Silence threshold for slicing the input "
                                                                  "(-30 for noisy input, -50 to keep breaths)",
                            json_schema_extra={"unit": "dB"})
    pad_seconds: float = Field(0.5, ge=0.0, le=5.0, description="Silence padded around each chunk before "
                                                                "conversion and trimmed after (hides edge "
                                                                "artefacts)", json_schema_extra={"unit": "s"})
    clip_seconds: float = Field(0.0, ge=0.0, le=600.0, description="Force chunks no longer than this (0 = "
                                                                   "only cut at silences)",
                                json_schema_extra={"unit": "s"})
    crossfade_seconds: float = Field(0.0, ge=0.0, le=10.0, description="Crossfade between forced clips "
                                                                       "(upstream linear_gradient; 0 = none)",
                                     json_schema_extra={"unit": "s"})
    crossfade_retain: float = Field(0.75, gt=0.0, le=1.0, description="Share of the crossfade region that is "
                                                                      "blended; the rest of each clip's edge is "
                                                                      "dropped (upstream linear_gradient_retain)")
    resampler: Literal["torchaudio", "soxr"] = Field("torchaudio", description=(
        "Resampler to the model's rate and to the encoder's 16 kHz: torchaudio's windowed sinc (upstream's) "
        "or soxr"))
    seed: int = Field(52468, ge=0, description="Noise seed, reset for every chunk as upstream does (upstream's "
                                               "52468)")


def sovits_options(params: SovitsParams) -> SovitsOptions:
    slicing = Slicing(slice_db=params.slice_db, pad_seconds=params.pad_seconds, clip_seconds=params.clip_seconds,
                      crossfade_seconds=params.crossfade_seconds, crossfade_retain=params.crossfade_retain)
    return SovitsOptions(speaker=params.speaker, speaker_mix=dict(params.speaker_mix),
                         speaker_mix_track={k: [tuple(seg) for seg in v] for k, v in params.speaker_mix_track.items()},
                         transpose=params.transpose,
                         f0_method=params.f0_method, cr_threshold=params.cr_threshold, f0_filter=params.f0_filter,
                         noise_scale=params.noise_scale, auto_predict_f0=params.auto_predict_f0,
                         cluster_ratio=params.cluster_ratio,
                         loudness_envelope_adjustment=params.loudness_envelope_adjustment, slicing=slicing,
                         resampler=params.resampler, seed=params.seed)


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
    """Convert speech or singing to a so-vits-svc 4.0/4.1 voice as upstream's inference does: the input
    sliced at silences, ContentVec/HuBERT content, pitch with transpose (or predicted), optional k-means
    cluster blending, a speaker by name or a blend of speakers, optional loudness-envelope matching."""
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
    if params.cluster_ratio > 0:
        if kmeans is None:
            raise ModelRefError("cluster_ratio", "no cluster model: give cluster_model (a kmeans_*.pt) or set 0")
        centers = pooled("kmeans", kmeans, "cpu", lambda: read_kmeans(kmeans), file_size(kmeans) * 2, report)
    ctx.progress(0.2, "content encoder loaded")
    result = convert_sovits(audio.mono().astype(np.float32), model, info, encoder, sovits_options(params), centers,
                            device, sample_rate=audio.sample_rate)
    ctx.info["model_load"] = report
    ctx.info["sovits"] = {"version": info.version, "speech_encoder": info.speech_encoder, "device": device,
                          **result.info}
    ctx.progress(1.0, "done")
    return Audio(result.audio[None, :], result.sample_rate)
