"""Editing in time: audio.trim_silence, audio.fade, audio.pad_crop, audio.concat."""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
import soxr
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, Port, node
from haysay.graph_engine.values import DEFAULT_BLOCK, Audio
from haysay.nodes.audio.mixing import match_channels

TRIM_FRAME_SECONDS = 0.01
Curve = Literal["linear", "equal_power", "s_curve", "quadratic"]
Where = Literal["end", "start", "both"]


def frame_levels_db(samples: np.ndarray, rate: int, frame_s: float = TRIM_FRAME_SECONDS) -> tuple[np.ndarray, int]:
    """RMS level (dBFS, loudest channel) of consecutive frames, and the frame length in samples."""
    hop = max(1, int(round(rate * frame_s)))
    count = math.ceil(samples.shape[1] / hop)
    padded = np.pad(samples, ((0, 0), (0, count * hop - samples.shape[1])))
    rms = np.sqrt((padded.reshape(samples.shape[0], count, hop).astype(np.float64) ** 2).mean(axis=2)).max(axis=0)
    return 20.0 * np.log10(np.maximum(rms, 1e-12)), hop


def silence_bounds(samples: np.ndarray, rate: int, threshold_db: float = -50.0, leading: bool = True,
                   trailing: bool = True, padding: float = 0.05) -> tuple[int, int]:
    """[start, end) sample range to keep: from the first to the last frame above `threshold_db`, plus padding."""
    if not samples.shape[1]:
        return 0, 0
    levels, hop = frame_levels_db(samples, rate)
    loud = np.flatnonzero(levels > threshold_db)
    if not loud.size:
        raise ValueError(f"threshold_db={threshold_db:g}: the whole clip is below it (loudest 10 ms: "
                         f"{levels.max():.1f} dBFS); lower threshold_db")
    pad = int(round(padding * rate))
    frames = samples.shape[1]
    start = max(0, loud[0] * hop - pad) if leading else 0
    end = min(frames, (loud[-1] + 1) * hop + pad) if trailing else frames
    return start, end


def loud_frame_range(audio: Audio, threshold_db: float, hop: int,
                     block: int = DEFAULT_BLOCK) -> tuple[int | None, int | None, float]:
    """(first, last) index of the frames of `hop` samples whose RMS (loudest channel) is above
    `threshold_db`, and the loudest frame's level, reading the audio block by block."""
    step = max(hop, block // hop * hop)  # blocks hold whole frames, so frames never straddle two reads
    first = last = None
    loudest = -np.inf
    for start in range(0, audio.frames, step):
        chunk = np.asarray(audio.data[:, start:start + step], dtype=np.float32)
        levels, _ = frame_levels_db(chunk, audio.sample_rate)
        loud = np.flatnonzero(levels > threshold_db)
        loudest = max(loudest, float(levels.max()))
        if loud.size:
            base = start // hop
            first = base + int(loud[0]) if first is None else first
            last = base + int(loud[-1])
    return first, last, loudest


def fade_gains(start: int, count: int, total: int, rate: int, fade_in: float, fade_out: float,
               curve: Curve = "linear") -> np.ndarray:
    """Gains for samples [start, start+count) of a `total`-sample clip with the given fades."""
    pos = np.arange(start, start + count, dtype=np.float64)
    gain = np.ones(count)
    n_in, n_out = int(round(fade_in * rate)), int(round(fade_out * rate))
    if n_in > 0:
        gain *= _curve(np.clip((pos + 0.5) / n_in, 0.0, 1.0), curve)
    if n_out > 0:
        gain *= _curve(np.clip((total - pos - 0.5) / n_out, 0.0, 1.0), curve)
    return gain.astype(np.float32)


def _curve(u: np.ndarray, curve: Curve) -> np.ndarray:
    if curve == "equal_power":
        return np.sin(0.5 * np.pi * u)
    if curve == "s_curve":
        return 0.5 - 0.5 * np.cos(np.pi * u)
    if curve == "quadratic":
        return u * u
    return u


def fade(samples: np.ndarray, rate: int, fade_in: float = 0.0, fade_out: float = 0.0,
         curve: Curve = "linear") -> np.ndarray:
    """Apply a fade-in and fade-out to (channels, frames) float32."""
    n = samples.shape[1]
    return samples * fade_gains(0, n, n, rate, fade_in, fade_out, curve)


def pad_crop(samples: np.ndarray, frames: int, where: Where = "end") -> np.ndarray:
    """Zero-pad or cut (channels, n) to `frames`, at the end, the start or both ends equally."""
    diff = frames - samples.shape[1]
    before = {"end": 0, "start": diff, "both": diff // 2}[where]
    after = diff - before
    if diff >= 0:
        return np.pad(samples, ((0, 0), (before, after)))
    return samples[:, -before:samples.shape[1] + after]


class TrimParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold_db: float = Field(-50.0, ge=-100.0, le=0.0, description="Anything quieter (RMS over 10 ms) is silence",
                                json_schema_extra={"unit": "dBFS"})
    leading: bool = Field(True, description="Trim silence at the start")
    trailing: bool = Field(True, description="Trim silence at the end")
    padding: float = Field(0.05, ge=0.0, le=5.0, description="Silence kept before and after the sound",
                           json_schema_extra={"unit": "s"})
    mode: Literal["level", "vad"] = Field("level", description="level: silence is anything below threshold_db; "
                                                               "vad: anything Silero VAD does not call speech "
                                                               "(breaths, hum and noise are cut too)")
    vad_threshold: float = Field(0.5, ge=0.05, le=0.95, description="vad mode: speech probability above which "
                                                                   "a window is speech",
                                json_schema_extra={"unit": "probability"})


VAD_BYTES_PER_SAMPLE = 12.0  # vad mode: the mono mix and its 16 kHz copy (measured 7.2 B/sample at 22.05 kHz)


def _version(package: str) -> str:
    from importlib.metadata import version
    return version(package)


def _trim_memory(params: TrimParams, shapes) -> float:
    return 0.0 if params.mode == "level" else VAD_BYTES_PER_SAMPLE * sum(s.samples for s in shapes.values())


def _speech_range(params: TrimParams, audio: Audio) -> tuple[int, int]:
    """[first, end) sample of the speech Silero VAD finds (no padding yet)."""
    from haysay.nodes.analysis.measure import mono_at
    try:
        from haysay.nodes.analysis.vad import RATE, speech_segments
    except ModuleNotFoundError as exc:
        raise ValueError(f"mode: 'vad' needs the Python package {exc.name!r} (pip install 'haysay[eval]'); "
                         "or use mode 'level'") from None

    seg = speech_segments(mono_at(audio, RATE), params.vad_threshold, speech_pad_ms=0)
    if not seg.size:
        raise ValueError(f"mode: the VAD finds no speech in the clip (at vad_threshold={params.vad_threshold:g}); "
                         "lower vad_threshold or use mode 'level'")
    rate = audio.sample_rate
    return int(seg[0, 0] * rate), min(audio.frames, int(np.ceil(seg[-1, 1] * rate)))


@node("audio.trim_silence", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=TrimParams,
      category="transform", title="Trim silence", memory=_trim_memory,  # level mode: two passes over blocks
      fingerprint=lambda p: {"silero-vad": _version("silero-vad")} if p.mode == "vad" else {})
def trim_silence(params: TrimParams, audio: Audio, ctx):
    """Cut leading and/or trailing silence, keeping a little padding around the sound (or, in vad
    mode, around the speech)."""
    rate, frames = audio.sample_rate, audio.frames
    if not frames:
        return audio
    pad = int(round(params.padding * rate))
    if params.mode == "vad":
        first_at, end_at = _speech_range(params, audio)
    else:
        hop = max(1, int(round(rate * TRIM_FRAME_SECONDS)))
        first, last, loudest = loud_frame_range(audio, params.threshold_db, hop)
        if first is None:
            raise ValueError(f"threshold_db={params.threshold_db:g}: the whole clip is below it (loudest 10 ms: "
                             f"{loudest:.1f} dBFS); lower threshold_db")
        first_at, end_at = first * hop, (last + 1) * hop
    start = max(0, first_at - pad) if params.leading else 0
    end = min(frames, end_at + pad) if params.trailing else frames
    ctx.info.update(trimmed_start_s=round(start / rate, 4), trimmed_end_s=round((frames - end) / rate, 4))
    sink = ctx.audio_sink("audio", rate, audio.channels)
    for at in range(start, end, DEFAULT_BLOCK):
        sink.write(np.asarray(audio.data[:, at:min(end, at + DEFAULT_BLOCK)], dtype=np.float32))
    return sink.finish()


class FadeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fade_in: float = Field(0.0, ge=0.0, le=600.0, description="Fade-in length", json_schema_extra={"unit": "s"})
    fade_out: float = Field(0.0, ge=0.0, le=600.0, description="Fade-out length", json_schema_extra={"unit": "s"})
    curve: Curve = Field("linear", description="Shape: linear, equal_power (sine), s_curve (raised cosine) "
                                               "or quadratic")


@node("audio.fade", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=FadeParams,
      category="transform", title="Fade", memory=0.0)  # block by block
def fade_node(params: FadeParams, audio: Audio, ctx):
    """Fade in at the start and out at the end. Fades longer than the clip overlap."""
    sink = ctx.audio_sink("audio", audio.sample_rate, audio.channels)
    start = 0
    for block in audio.blocks():
        gains = fade_gains(start, block.shape[1], audio.frames, audio.sample_rate,
                           params.fade_in, params.fade_out, params.curve)
        sink.write(block * gains)
        start += block.shape[1]
    return sink.finish()


class PadCropParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    length: float = Field(1.0, gt=0.0, le=24 * 3600.0, description="Length of the result",
                          json_schema_extra={"unit": "s"})
    where: Where = Field("end", description="Where silence is added or audio removed: end, start, "
                                            "or both (split evenly, keeps the middle)")


def _padded(params: PadCropParams, shapes):
    return shapes["audio"].with_(frames=int(round(params.length * shapes["audio"].sample_rate)))


@node("audio.pad_crop", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=PadCropParams,
      category="transform", title="Pad / crop", shape=_padded,
      memory=lambda p, s: 4 * (s["audio"].samples + _padded(p, s).samples))  # the whole input and result
def pad_crop_node(params: PadCropParams, audio: Audio):
    """Bring the audio to an exact length by adding silence or cutting."""
    frames = int(round(params.length * audio.sample_rate))
    return Audio(pad_crop(audio.numpy(), frames, params.where), audio.sample_rate)


class ConcatParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gap: float = Field(0.0, ge=0.0, le=600.0, description="Silence between a and b", json_schema_extra={"unit": "s"})


@node("audio.concat", inputs=[Port("a", AUDIO, description="First part"), Port("b", AUDIO, description="Second part")],
      outputs={"audio": AUDIO}, params=ConcatParams, category="transform", title="Concatenate", memory=0.0,
      shape=lambda p, s: s["a"].with_(
          frames=s["a"].frames + int(round(p.gap * s["a"].sample_rate))
          + -(-s["b"].frames * s["a"].sample_rate // s["b"].sample_rate),
          channels=max(s["a"].channels, s["b"].channels)) if {"a", "b"} <= set(s) else None)
def concat(params: ConcatParams, a: Audio, b: Audio, ctx):
    """Join b after a, with an optional gap of silence. b is resampled to a's rate if they differ;
    a mono part is spread over the other's channels."""
    channels, rate = max(a.channels, b.channels), a.sample_rate
    for name, part in (("a", a), ("b", b)):
        match_channels(np.zeros((part.channels, 0), np.float32), channels, name)
    sink = ctx.audio_sink("audio", rate, channels)
    for block in a.blocks():
        sink.write(match_channels(block, channels, "a"))
    gap = int(round(params.gap * rate))
    for start in range(0, gap, DEFAULT_BLOCK):
        sink.write(np.zeros((channels, min(DEFAULT_BLOCK, gap - start)), np.float32))
    resampler = soxr.ResampleStream(b.sample_rate, rate, b.channels, dtype="float32", quality="HQ") \
        if b.sample_rate != rate else None
    for block in b.blocks():
        if resampler is not None:
            block = resampler.resample_chunk(np.ascontiguousarray(block.T)).T
        if block.shape[1]:
            sink.write(match_channels(block, channels, "b"))
    if resampler is not None:
        tail = resampler.resample_chunk(np.zeros((0, b.channels), np.float32), last=True).T
        if tail.shape[1]:
            sink.write(match_channels(tail, channels, "b"))
    return sink.finish()
