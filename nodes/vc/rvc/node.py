"""vc.rvc: convert a voice with an RVC v1/v2 model (with or without pitch guidance)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from haysay.graph_engine.contract import AUDIO, node
from haysay.graph_engine.values import Audio
from haysay.nodes.analysis.f0 import rmvpe_checkpoint
from haysay.nodes.vc.resolve import (ModelRefError, content_digest, file_size, pooled, resolve_content_encoder,
                                  resolve_model)

# torch, soxr, faiss and the networks are imported where the node runs: registering it stays light
SR = 16000  # the content encoder's and pitch trackers' rate (rvc.pipeline.SR)


class RVCParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., min_length=1, description="Installed RVC model name, or path to its .pth")
    content_encoder: str = Field("", description="Installed content encoder name or path to hubert_base.pt / "
                                                 "a transformers folder (default: the installed one)")
    index: str = Field("", description="Feature index (.index) path; default: the installed model's own, if any")
    speaker_id: int = Field(0, ge=0, le=10000, description="Speaker id for multi-speaker models")
    pitch_shift: float = Field(0.0, ge=-48.0, le=48.0, description="Transpose the voice",
                               json_schema_extra={"unit": "semitones"})
    f0_method: Literal["pm", "harvest", "dio", "crepe", "crepe-tiny", "fcpe", "rmvpe"] = Field(
        "pm", description="Pitch tracker (pm = Praat autocorrelation; rmvpe = RVC's neural tracker, needs "
              "rmvpe.pt installed: haysay models install rmvpe.pt, or HAYSAY_RMVPE=path)")
    index_rate: float = Field(0.75, ge=0.0, le=1.0, description="How far features are pulled toward the index")
    filter_radius: int = Field(3, ge=0, le=7, description="Median-filter the harvest pitch when 3 or more")
    rms_mix_rate: float = Field(0.25, ge=0.0, le=1.0, description="Loudness envelope: 0 = input's, 1 = model's own")
    protect: float = Field(0.33, ge=0.0, le=0.5, description="Protect unvoiced consonants from the index/model "
                                                               "(0.5 = off)")
    seed: int = Field(0, ge=0, description="Noise seed (output is reproducible)")
    resample_sr: int = Field(0, ge=0, le=192000, description="Output sample rate; 0 = the model's own",
                             json_schema_extra={"unit": "Hz"})
    precision: Literal["auto", "fp32", "fp16"] = Field(
        "auto", description="auto = as the RVC WebUI: fp16 with longer segments on CUDA (fp32 on GTX 16xx / "
                            "Pascal cards), fp32 on CPU")

    backend: Literal["auto", "torch", "onnx"] = Field(
        "auto", description="Where the decoder runs: onnx = an ONNX Runtime graph exported from the checkpoint "
                            "on first load and checked against torch (about 2x faster on CPU); auto = onnx on "
                            "CPU when it checks out, torch on CUDA")
    stream: bool = Field(
        False, description="Deliver the output segment by segment as it converts (a short first segment, then "
                           "longer ones), so the studio plays it before the stage ends; the audio then differs "
                           "slightly from the whole-file run around the segment joins")

    @field_validator("resample_sr")
    @classmethod
    def _audible_rate(cls, v: int) -> int:
        if 0 < v < 16000:
            raise ValueError("0 (the model's rate) or at least 16000")
        return v


def rvc_models(params: RVCParams) -> dict[str, str]:
    """The files a run reads, by content, as the node itself resolves them (the cache key holds these)."""
    path, installed = resolve_model(params.model, "model", "rvc")
    weights = installed.file("weights") if installed is not None else path
    out = {"model": content_digest(weights),
           "content_encoder": content_digest(resolve_content_encoder(params.content_encoder,
                                                                     ("hubert", "contentvec")))}
    index = params.index or (str(installed.find("index")) if installed is not None and installed.find("index")
                             else "")
    out["index"] = content_digest(index) if index and params.index_rate > 0 else "none"
    if params.f0_method == "rmvpe":
        out["rmvpe"] = content_digest(rmvpe_checkpoint())
    return out


# Measured peak with full-size v2 40k + HuBERT-base on CPU: 3.35 kB per 16 kHz input sample while one
# segment converts (segments are at most ~41 s on CPU), plus the whole input's arrays and output.
SEGMENT_BYTES_PER_16K_SAMPLE, WHOLE_BYTES_PER_16K_SAMPLE, LONGEST_SEGMENT_S = 3400.0, 64.0, 42


def rvc_memory(params: RVCParams, shapes) -> float:
    n16 = sum(s.frames * 16000 / s.sample_rate for s in shapes.values())
    return SEGMENT_BYTES_PER_16K_SAMPLE * min(n16, LONGEST_SEGMENT_S * 16000) + WHOLE_BYTES_PER_16K_SAMPLE * n16


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _load(params: RVCParams, audio: Audio, ctx):
    """What a conversion needs, loaded (pooled) once: (converter args, 16 kHz input, settings, run info)."""
    import soxr

    from haysay.nodes.vc.backend import ensure_decoder, ensure_encoder
    from haysay.nodes.vc.content.checkpoint import read_content_encoder
    from haysay.nodes.vc.retrieval import read_feature_index
    from haysay.nodes.vc.rvc.checkpoint import build_rvc_model, read_rvc_checkpoint
    from haysay.nodes.vc.rvc.pipeline import RVCOptions, device_settings

    device = _device()
    settings = device_settings(device, params.precision)
    half = "_fp16" if settings.half else ""
    report: dict = {}
    path, installed = resolve_model(params.model, "model", "rvc")
    weights = installed.file("weights") if installed is not None else path

    def load_model():
        ckpt = read_rvc_checkpoint(weights)
        return ckpt, build_rvc_model(ckpt, device, settings.half)

    def load_encoder():
        enc = read_content_encoder(enc_path).to(device)
        return enc.half() if settings.half else enc

    ckpt, model = pooled("rvc" + half, weights, device, load_model, file_size(weights) * 3, report)
    ctx.progress(0.1, "model loaded")
    enc_path = resolve_content_encoder(params.content_encoder, ("hubert", "contentvec"))
    encoder = pooled("content_encoder" + half, enc_path, device, load_encoder, file_size(enc_path) * 2, report)
    decoder_info = ensure_decoder(model, content_digest(weights), params.backend, device)
    encoder_info = ensure_encoder(encoder, content_digest(enc_path), params.backend, device)
    index_path = params.index or (str(installed.find("index")) if installed is not None and installed.find("index")
                                  else "")
    if index_path and not Path(index_path).is_file():
        raise ModelRefError("index", f"file not found: {index_path}")
    index = pooled("rvc_index", index_path, "cpu", lambda: read_feature_index(index_path),
                   file_size(Path(index_path)) * 2, report) if index_path else None
    ctx.progress(0.2, "content encoder loaded")
    x = audio.mono().astype(np.float64)
    x16 = soxr.resample(x, audio.sample_rate, SR) if audio.sample_rate != SR else x
    opts = RVCOptions(speaker_id=params.speaker_id, pitch_shift=params.pitch_shift, f0_method=params.f0_method,
                      index_rate=params.index_rate, filter_radius=params.filter_radius,
                      rms_mix_rate=params.rms_mix_rate, protect=params.protect, seed=params.seed,
                      resample_sr=params.resample_sr)
    ctx.info["model_load"] = report
    info = {"version": ckpt.version, "f0": ckpt.f0, "sample_rate": ckpt.sample_rate, "device": device,
            "precision": "fp16" if settings.half else "fp32", "decoder": decoder_info,
            "content_encoder": encoder_info}
    return (model, ckpt.version, encoder, opts, index, device), x16, settings, info


def rvc_blocks(params: RVCParams, ctx, audio: Audio):
    """vc.rvc's output segment by segment (nodes.vc.rvc.stream): upstream's padding, a first segment of
    about 1.6 s then segments growing to 8 s; see stream.py for how it differs from the whole-file run."""
    from dataclasses import replace

    from haysay.nodes.vc.rvc.stream import STREAM_CUTS, STREAM_SETTINGS, stream_rvc

    args, x16, settings, info = _load(params, audio, ctx)
    for block in stream_rvc(x16, *args, replace(STREAM_SETTINGS, half=settings.half), STREAM_CUTS):
        ctx.progress(0.2 + 0.8 * block.segment / block.segments, f"segment {block.segment}/{block.segments}")
        yield Audio(block.audio[None, :], block.sample_rate)
    ctx.info["rvc"] = dict(info, streamed=True)


@node("vc.rvc", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=RVCParams, category="vc",
      title="RVC voice conversion", gpu=True, memory_mb=1500, tags=("neural", "rvc"), fingerprint=rvc_models,
      memory=rvc_memory, blocks=rvc_blocks,
      lifecycle={"upstream": "RVC-Project/Retrieval-based-Voice-Conversion-WebUI", "versions": ("v1", "v2"), "status": "supported", "licence": "MIT"})
def rvc(params: RVCParams, audio: Audio, ctx):
    """Convert speech to the voice of an RVC v1/v2 model (.pth from the RVC WebUI), with HuBERT/ContentVec
    content, pitch tracking and shift, optional .index retrieval, loudness-envelope mixing and resampling.
    Matches the WebUI's own inference: fp32 on CPU, fp16 with its longer GPU segments on CUDA by default."""
    from haysay.nodes.vc.rvc.pipeline import convert_rvc

    if params.stream:  # the streamed output, whether or not a listener takes its blocks
        blocks = list(rvc_blocks(params, ctx, audio))
        ctx.progress(1.0, "done")
        return Audio(np.concatenate([b.data for b in blocks], axis=1), blocks[0].sample_rate)
    args, x16, settings, info = _load(params, audio, ctx)
    result = convert_rvc(x16, *args, settings)
    ctx.info["rvc"] = dict(info, segments=result.info["segments"])
    ctx.progress(1.0, "done")
    return Audio(result.audio[None, :], result.sample_rate)
