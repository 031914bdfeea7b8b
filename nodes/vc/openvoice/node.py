"""vc.openvoice: OpenVoice v1/v2 tone-colour conversion (myshell-ai/OpenVoice ToneColorConverter)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, FileParam, Port, node
from haysay.graph_engine.values import Audio
from haysay.nodes.vc.resolve import ModelRefError, content_digest, file_size, pooled, resolve_model

# torch, soxr and the network are imported where the node runs: registering it stays light


class OpenVoiceParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., min_length=1, description="Installed OpenVoice converter name, or the converter folder "
                                                      "(checkpoint.pth + config.json) or its checkpoint.pth")
    target_embedding: Annotated[str, FileParam((".pth",))] = Field(
        "", description="Stored target tone-colour embedding (.pth from upstream's extract_se / get_se); "
                        "used when no reference audio is connected")
    source_embedding: Annotated[str, FileParam((".pth",))] = Field(
        "", description="Stored source embedding (e.g. checkpoints_v2/base_speakers/ses/en-us.pth for a "
                        "MeloTTS voice); default: extracted from the source audio itself")
    tau: float = Field(0.3, ge=0.0, le=2.0, description="Posterior noise scale: higher keeps less of the source's "
                                                        "own timbre detail (upstream default 0.3)")
    split_seconds: float = Field(10.0, gt=0.5, le=120.0, description="Reference (and source) audio is cut into "
                                 "pieces of about this length; their embeddings are averaged (upstream's get_se)",
                                 json_schema_extra={"unit": "s"})
    vad: bool = Field(True, title="Speech only (VAD)",
                      description="Embed only the speech Silero VAD finds in the reference (and source), as "
                                  "upstream's get_se does (its default); off: the whole clip, silences included")
    seed: int = Field(0, ge=0, description="Noise seed (output is reproducible)")


def _converter_files(params: OpenVoiceParams) -> tuple[Path, Path]:
    """(checkpoint.pth, config.json) the `model` param names."""
    path, installed = resolve_model(params.model, "model", "openvoice")
    if installed is not None:
        return installed.file("weights"), installed.file("config")
    if path.is_dir():
        for folder in (path, path / "converter"):
            if (folder / "checkpoint.pth").is_file():
                return folder / "checkpoint.pth", folder / "config.json"
        raise ModelRefError("model", f"no checkpoint.pth in {path} (nor in {path / 'converter'})")
    return path, path.with_name("config.json")


def openvoice_models(params: OpenVoiceParams) -> dict[str, str]:
    """The model files a run reads, by content (the cache key holds these)."""
    weights, config = _converter_files(params)
    return {"model": content_digest(weights), "config": content_digest(config) if config.is_file() else "none"}


# Measured (benchmarks/openvoice.py, full-size v2 converter, CPU fp32, fresh process after a 1 s warm-up):
# peak resident growth 266 MB for 5 s and 397 MB for 15 s at 22.05 kHz, i.e. about 200 MB of fixed working
# memory (within memory_mb, beside the 131 MB of weights) plus 593 B per input sample, declared with a margin.
BYTES_PER_SAMPLE = 650.0


def openvoice_memory(params: OpenVoiceParams, shapes) -> float:
    n = sum(s.frames * 22050 / s.sample_rate for s in shapes.values())
    return BYTES_PER_SAMPLE * n


def openvoice_shape(params: OpenVoiceParams, shapes):
    """Mono at the model's rate, one hop per spectrogram frame of the resampled source (None when the
    converter's config cannot be read yet: validation then reports the model field itself)."""
    from haysay.nodes.vc.openvoice.checkpoint import read_openvoice_config

    src = shapes.get("audio")
    try:
        cfg = read_openvoice_config(_converter_files(params)[1])
    except Exception:
        return None
    if src is None:
        return None
    n = int(round(src.frames * cfg.sampling_rate / src.sample_rate))
    pad = (cfg.filter_length - cfg.hop_length) // 2
    frames = max(0, (n + 2 * pad - cfg.filter_length) // cfg.hop_length + 1)
    return src.with_(frames=frames * cfg.hop_length, channels=1, sample_rate=cfg.sampling_rate)


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _at_rate(audio: Audio, rate: int) -> np.ndarray:
    import soxr

    x = audio.mono().astype(np.float64)
    # librosa.load's default resampler is soxr "HQ", as upstream reads its files
    y = soxr.resample(x, audio.sample_rate, rate, quality="HQ") if audio.sample_rate != rate else x
    return y.astype(np.float32)


def _speech(clip: Audio, x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """`x` (the clip at the model's rate) cut to the speech VAD finds in the clip at 16 kHz, and the
    segments (s); where it finds none, `x` whole (upstream stops there: its assert on an empty result)."""
    from haysay.nodes.vc.openvoice.convert import speech_only, vad_segments

    try:
        segments = vad_segments(_at_rate(clip, 16000))
    except ModuleNotFoundError as exc:
        raise ModelRefError("vad", f"needs {exc.name} (install haysay[eval]) or set vad off") from None
    return (speech_only(x, rate, segments) if len(segments) else x), segments


@node("vc.openvoice", inputs=[Port("audio", AUDIO, description="Speech to convert"),
                              Port("reference", AUDIO, optional=True,
                                   description="Speech in the target voice (its tone colour is extracted)")],
      outputs={"audio": AUDIO}, params=OpenVoiceParams, category="vc", title="OpenVoice tone-colour conversion",
      gpu=True, memory_mb=600, tags=("neural", "openvoice"), fingerprint=openvoice_models, memory=openvoice_memory,
      shape=openvoice_shape, lifecycle={"upstream": "myshell-ai/OpenVoice", "versions": ("v1", "v2"),
                                        "status": "supported", "licence": "MIT"})
def openvoice(params: OpenVoiceParams, audio: Audio, ctx, reference: Audio | None = None):
    """Give speech (say, any TTS output) the tone colour of a reference speaker with OpenVoice's converter
    (v1 or v2 checkpoint.pth + config.json). The target is extracted from the reference audio, or read from a
    stored embedding; the source's own is extracted from the input. Output is at the model's rate (22.05 kHz).
    Unlike upstream, no wavmark watermark is added."""
    from haysay.nodes.vc.openvoice.checkpoint import build_openvoice_model, read_embedding, read_openvoice_checkpoint
    from haysay.nodes.vc.openvoice.convert import convert, extract_embedding, min_samples, split_chunks
    from haysay.nodes.vc.safe_load import CheckpointError

    if reference is None and not params.target_embedding:
        raise ModelRefError("target_embedding", "connect reference audio or give a stored target embedding (.pth)")
    if reference is not None and params.target_embedding:
        raise ModelRefError("target_embedding", "give either reference audio or a stored embedding, not both")
    device = _device()
    weights, config = _converter_files(params)
    report: dict = {}

    def load():
        return build_openvoice_model(read_openvoice_checkpoint(weights, config), device)

    try:
        model = pooled("openvoice", weights, device, load, file_size(weights) * 2, report)
    except CheckpointError as exc:
        raise ModelRefError("model", str(exc)) from None
    ctx.progress(0.2, "model loaded")
    rate, gin = model.cfg.sampling_rate, model.cfg.gin_channels

    vad_info: dict = {}

    def embedding(field: str, file: str, clip: Audio | None):
        if file:
            try:
                return read_embedding(file, gin)
            except CheckpointError as exc:
                raise ModelRefError(field, str(exc)) from None

        def pieces(x: np.ndarray, what: str) -> list[np.ndarray]:
            chunks = split_chunks(x, rate, params.split_seconds)
            if min(len(c) for c in chunks) < min_samples(model):
                raise ModelRefError(field, f"{what} is too short: {len(x) / rate:.3f} s "
                                           f"(at least {min_samples(model) / rate:.3f} s)")
            return chunks

        what = "reference audio" if clip is reference else "source audio"
        x = _at_rate(clip, rate)
        chunks = pieces(x, what)
        if params.vad:
            speech, segments = _speech(clip, x, rate)
            vad_info[what] = segments.round(3).tolist() or "no speech found: embedded whole"
            chunks = pieces(speech, f"the speech in the {what}")
        return extract_embedding(model, chunks, device)

    x = _at_rate(audio, rate)
    if len(x) < min_samples(model):
        raise ModelRefError("audio", f"source audio is too short: {len(x) / rate:.3f} s")
    tgt = embedding("target_embedding", params.target_embedding, reference)
    src = embedding("source_embedding", params.source_embedding, audio)
    ctx.progress(0.4, "embeddings extracted")
    y = convert(model, x, src, tgt, params.tau, params.seed, device)
    ctx.info["model_load"] = report
    ctx.info["openvoice"] = {"version": model.cfg.version, "sample_rate": rate, "device": device,
                             **({"vad_segments_s": vad_info} if vad_info else {})}
    ctx.progress(1.0, "done")
    return Audio(y[None, :], rate)
