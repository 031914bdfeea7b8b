"""gen.tone: a generated test signal (sine, sweep, noise or silence), written block by block."""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from haysay.graph_engine.contract import AUDIO, node
from haysay.graph_engine.values import AudioShape

if TYPE_CHECKING:
    import numpy as np

BLOCK = 1 << 16
MAX_TONE_BYTES = 8 << 30  # float32 samples a generated signal may take in the store


class ToneParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    waveform: Literal["sine", "sweep", "white_noise", "pink_noise", "silence"] = Field(
        "sine", description="Signal shape")
    frequency: float = Field(440.0, gt=0.0, le=20000.0, description="Frequency (start frequency of a sweep)",
                             json_schema_extra={"unit": "Hz"})
    end_frequency: float = Field(4000.0, gt=0.0, le=20000.0, description="End frequency of a sweep",
                                 json_schema_extra={"unit": "Hz"})
    duration: float = Field(1.0, gt=0.0, le=24 * 3600.0, description="Length", json_schema_extra={"unit": "s"})
    sample_rate: int = Field(48000, ge=1000, le=384000, json_schema_extra={"unit": "Hz"})
    channels: int = Field(1, ge=1, le=8)
    amplitude_db: float = Field(-12.0, ge=-96.0, le=0.0, description="Peak level", json_schema_extra={"unit": "dBFS"})
    seed: int = Field(0, ge=0, description="Noise seed (noise is reproducible)")

    @model_validator(mode="after")
    def _fits(self) -> "ToneParams":
        size = round(self.duration * self.sample_rate) * self.channels * 4
        if size > MAX_TONE_BYTES:
            raise ValueError(f"duration: {self.duration:g} s at {self.sample_rate} Hz x {self.channels} ch is "
                             f"{size / 2**30:.1f} GiB of samples; a generated signal may be at most "
                             f"{MAX_TONE_BYTES / 2**30:g} GiB")
        return self


def tone_block(p: ToneParams, start: int, frames: int, rng: np.random.Generator) -> np.ndarray:
    """Samples [start, start+frames) of the signal, shape (channels, frames)."""
    import numpy as np  # where it runs: registering the type stays light
    amp = 10.0 ** (p.amplitude_db / 20.0)
    t = (start + np.arange(frames)) / p.sample_rate
    if p.waveform == "sine":
        mono = np.sin(2 * np.pi * p.frequency * t)
    elif p.waveform == "sweep":
        # exponential sweep: phase is the integral of f(t) = f0 * k^(t/T)
        T, k = p.duration, p.end_frequency / p.frequency
        if abs(k - 1.0) < 1e-9:
            phase = 2 * np.pi * p.frequency * t
        else:
            phase = 2 * np.pi * p.frequency * T / np.log(k) * (np.power(k, t / T) - 1.0)
        mono = np.sin(phase)
    elif p.waveform == "white_noise":
        mono = rng.uniform(-1.0, 1.0, frames)
    elif p.waveform == "pink_noise":
        spec = np.fft.rfft(rng.standard_normal(frames))
        spec /= np.sqrt(np.maximum(np.arange(spec.size), 1))
        mono = np.fft.irfft(spec, frames)
        mono /= max(np.max(np.abs(mono)), 1e-9)
    else:
        mono = np.zeros(frames)
    return np.repeat((amp * mono).astype(np.float32)[None, :], p.channels, axis=0)


def _tone_shape(params: ToneParams, shapes) -> AudioShape:
    return AudioShape(int(round(params.duration * params.sample_rate)), params.channels, params.sample_rate)


@node("gen.tone", outputs={"audio": AUDIO}, params=ToneParams, category="source", title="Tone generator",
      shape=_tone_shape, memory=0.0)
def tone(params: ToneParams, ctx):
    """Generate a test signal: sine, exponential sweep, white/pink noise or silence."""
    import numpy as np
    total = int(round(params.duration * params.sample_rate))
    rng = np.random.default_rng(params.seed)
    sink = ctx.audio_sink("audio", params.sample_rate, params.channels)
    for start in range(0, total, BLOCK):
        sink.write(tone_block(params, start, min(BLOCK, total - start), rng))
        ctx.progress((start + BLOCK) / total)
    return sink.finish()
