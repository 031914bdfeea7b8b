"""audio.pitch_shift, audio.time_stretch and audio.speed.

Pitch and tempo default to Rubber Band (through pedalboard's offline `time_stretch`), which keeps
transients and voices clean. The phase vocoder in `phase_vocoder.py` stays as a method because it
measures better on steady tones: a pure tone shifted (-12 to +12 semitones) or stretched (x0.5 to x2)
keeps a residual (everything but the tone) of -82 to -85 dB against Rubber Band's -63 to -76 dB
(benchmarks/transforms.py).
On speech Rubber Band tracks the asked pitch as close or closer (median frame-wise error 0.1-2.7 cents against
the phase vocoder's 0.4-3.8 over -12..+12 semitones). For speech, pitch can also be moved with the
WORLD vocoder (pyworld): it re-synthesizes the voice from its F0, spectral envelope and
aperiodicity, so the formants stay put, but it is for single voices only.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, node
from haysay.graph_engine.values import Audio
from haysay.nodes.audio.resample import SoxrStream
from haysay.nodes.audio.phase_vocoder import fit_length, pitch_shift, time_stretch

# pedalboard and pyworld are imported where Rubber Band / WORLD run: registering the nodes stays light
TransientMode = Literal["crisp", "mixed", "smooth"]

WORLD_FRAME_MS = 5.0


def world_pitch_shift(samples: np.ndarray, rate: int, semitones: float, f0_floor: float = 50.0,
                      f0_ceil: float = 1100.0) -> np.ndarray:
    """Shift the F0 of a voice by `semitones` with WORLD, keeping duration and spectral envelope."""
    import pyworld

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


def rubberband(samples: np.ndarray, rate: int, stretch: float = 1.0, semitones: float = 0.0,
               preserve_formants: bool = True, high_quality: bool = True,
               transient_mode: str = "crisp") -> np.ndarray:
    """Rubber Band's offline stretcher: duration / `stretch`, pitch moved by `semitones`.
    (channels, frames) float32 in and out, exactly round(frames / stretch) long."""
    import pedalboard

    frames = int(round(samples.shape[1] / stretch))
    if stretch == 1.0 and semitones == 0.0:
        return np.asarray(samples, dtype=np.float32).copy()
    out = pedalboard.time_stretch(np.ascontiguousarray(samples, dtype=np.float32), float(rate), stretch, semitones,
                                  high_quality=high_quality, transient_mode=transient_mode,
                                  preserve_formants=preserve_formants)
    return fit_length(np.asarray(out, dtype=np.float32).reshape(samples.shape[0], -1), frames)


class RubberBandFields(BaseModel):
    """Rubber Band's options (pedalboard.time_stretch's names and defaults)."""
    model_config = ConfigDict(extra="forbid")
    high_quality: bool = Field(True, description="Rubber Band: the higher-quality (slower) engine")
    transient_mode: TransientMode = Field("crisp", description="Rubber Band: how onsets are treated (crisp keeps "
                                                               "drums and consonants sharp, smooth blurs them)")


class PitchShiftParams(RubberBandFields):
    semitones: float = Field(0.0, ge=-24.0, le=24.0, description="Pitch change (+12 = one octave up)",
                             json_schema_extra={"unit": "st"})
    method: Literal["rubberband", "phase_vocoder", "world"] = Field(
        "rubberband", description="rubberband: any sound, clean transients; phase_vocoder: cleanest on steady "
                                  "tones (formants move with the pitch); world: a single voice only, keeps the formants")
    preserve_formants: bool = Field(True, description="Rubber Band: keep a voice's formants where they are (no "
                                                      "chipmunk); off, the whole spectrum moves with the pitch")


# bytes per input sample, measured (peak RSS over 60 s at 48 kHz): the input, the engine's buffers and the output
PITCH_MEMORY = {"rubberband": 32, "phase_vocoder": 66, "world": 90}


@node("audio.pitch_shift", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=PitchShiftParams,
      category="transform", title="Pitch shift", memory_mb=1024,
      memory=lambda p, s: PITCH_MEMORY[p.method] * sum(x.samples for x in s.values()))
def pitch_shift_node(params: PitchShiftParams, audio: Audio):
    """Move the pitch up or down by semitones while keeping the duration (Rubber Band by default)."""
    samples = audio.numpy()
    if params.method == "world":
        out = world_pitch_shift(samples, audio.sample_rate, params.semitones)
    elif params.method == "phase_vocoder":
        out = pitch_shift(samples, audio.sample_rate, params.semitones)
    else:
        out = rubberband(samples, audio.sample_rate, 1.0, params.semitones, params.preserve_formants,
                         params.high_quality, params.transient_mode)
    return Audio(out, audio.sample_rate)


class TimeStretchParams(RubberBandFields):
    rate: float = Field(1.0, ge=0.25, le=4.0,
                        description="Tempo factor: 2 plays twice as fast (half as long), 0.5 twice as slow",
                        json_schema_extra={"unit": "x"})
    method: Literal["rubberband", "phase_vocoder"] = Field(
        "rubberband", description="rubberband: any sound, clean transients; phase_vocoder: cleanest on steady tones")


def _stretch_memory(p: TimeStretchParams, shapes) -> float:
    # measured: Rubber Band ~4 + 10/rate bytes per input sample over the input; the phase vocoder 20 + 48/rate
    per = (12 + 12 / p.rate) if p.method == "rubberband" else (20 + 48 / p.rate)
    return per * shapes["audio"].samples


@node("audio.time_stretch", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=TimeStretchParams,
      category="transform", title="Time stretch", memory_mb=1024,
      shape=lambda p, s: s["audio"].with_(frames=int(round(s["audio"].frames / p.rate))), memory=_stretch_memory)
def time_stretch_node(params: TimeStretchParams, audio: Audio):
    """Change the tempo and duration while keeping the pitch (Rubber Band by default)."""
    if params.method == "phase_vocoder":
        out = time_stretch(audio.numpy(), audio.sample_rate, params.rate)
    else:
        out = rubberband(audio.numpy(), audio.sample_rate, params.rate, 0.0, True, params.high_quality,
                         params.transient_mode)
    return Audio(out, audio.sample_rate)

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
