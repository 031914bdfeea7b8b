"""audio.pitch_shift, audio.time_stretch and audio.speed.

Pitch and tempo use the phase vocoder in `phase_vocoder.py` (any sound). For
speech, pitch can instead be moved with the WORLD vocoder (pyworld): it
re-synthesizes the voice from its F0, spectral envelope and aperiodicity, so
the formants stay put, but it is for single voices only (music and noise come
out wrong).
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import pyworld
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, node
from haysay.graph_engine.values import Audio
from haysay.nodes.audio.resample import SoxrStream
from haysay.nodes.audio.phase_vocoder import fit_length, pitch_shift, time_stretch

WORLD_FRAME_MS = 5.0


def world_pitch_shift(samples: np.ndarray, rate: int, semitones: float, f0_floor: float = 50.0,
                      f0_ceil: float = 1100.0) -> np.ndarray:
    """Shift the F0 of a voice by `semitones` with WORLD, keeping duration and spectral envelope."""
    ratio = 2.0 ** (semitones / 12.0)
    out = np.empty_like(samples, dtype=np.float32)
    for c, x in enumerate(np.asarray(samples, dtype=np.float64)):
        f0, times = pyworld.dio(x, rate, f0_floor=f0_floor, f0_ceil=f0_ceil, frame_period=WORLD_FRAME_MS)
        f0 = pyworld.stonemask(x, f0, times, rate)
        envelope = pyworld.cheaptrick(x, f0, times, rate)
        aperiodicity = pyworld.d4c(x, f0, times, rate)
        y = pyworld.synthesize(f0 * ratio, envelope, aperiodicity, rate, WORLD_FRAME_MS)
        out[c] = fit_length(y[None, :], samples.shape[1])[0]
    return out


class PitchShiftParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    semitones: float = Field(0.0, ge=-24.0, le=24.0, description="Pitch change (+12 = one octave up)",
                             json_schema_extra={"unit": "st"})
    method: Literal["phase_vocoder", "world"] = Field(
        "phase_vocoder", description="phase_vocoder: any sound (formants move with the pitch); "
                                     "world: a single voice only, keeps the formants")


@node("audio.pitch_shift", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=PitchShiftParams,
      category="transform", title="Pitch shift", memory_mb=1024,
      # bytes per input sample, measured: the whole input, its spectra (or WORLD's analysis) and the output
      memory=lambda p, s: (90 if p.method == "world" else 66) * sum(x.samples for x in s.values()))
def pitch_shift_node(params: PitchShiftParams, audio: Audio):
    """Move the pitch up or down by semitones while keeping the duration."""
    samples = audio.numpy()
    if params.method == "world":
        out = world_pitch_shift(samples, audio.sample_rate, params.semitones)
    else:
        out = pitch_shift(samples, audio.sample_rate, params.semitones)
    return Audio(out, audio.sample_rate)


class TimeStretchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rate: float = Field(1.0, ge=0.25, le=4.0,
                        description="Tempo factor: 2 plays twice as fast (half as long), 0.5 twice as slow",
                        json_schema_extra={"unit": "x"})


@node("audio.time_stretch", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=TimeStretchParams,
      category="transform", title="Time stretch", memory_mb=1024,
      shape=lambda p, s: s["audio"].with_(frames=int(round(s["audio"].frames / p.rate))),
      memory=lambda p, s: (20 + 48 / p.rate) * s["audio"].samples)  # measured; a slower result is longer
def time_stretch_node(params: TimeStretchParams, audio: Audio):
    """Change the tempo and duration while keeping the pitch (phase vocoder)."""
    return Audio(time_stretch(audio.numpy(), audio.sample_rate, params.rate), audio.sample_rate)


class SpeedParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    factor: float = Field(1.0, ge=0.25, le=4.0,
                          description="Playback speed: 2 is twice as fast and an octave higher",
                          json_schema_extra={"unit": "x"})


class SpeedStream(SoxrStream):
    def __init__(self, params: SpeedParams, rates: list[int], channels: list[int]):
        # reading the samples as if recorded at rate*factor, then resampling to rate, plays them faster
        super().__init__(rates[0] * params.factor, rates[0], channels[0], "high")


node("audio.speed", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=SpeedParams,
     category="transform", title="Speed", stream=SpeedStream,
     shape=lambda p, s: s["audio"].with_(frames=int(round(s["audio"].frames / p.factor))),
     description="Play faster or slower like a tape: pitch and tempo change together (block-wise).")(None)
