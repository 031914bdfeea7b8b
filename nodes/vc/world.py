"""vc.world: voice conversion by WORLD analysis/resynthesis (pyworld).

The voice is split into f0, spectral envelope and aperiodicity; the f0 is
shifted and its range scaled around the median, the envelope's frequency axis
is warped (formants up or down), and the three are synthesized again.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from haysay.graph_engine.contract import AUDIO, node
from haysay.graph_engine.values import Audio
from haysay.nodes.analysis.f0 import METHODS, extract_f0

FRAME_PERIOD_MS = 5.0


def transform_f0(f0: np.ndarray, shift_semitones: float = 0.0, range_factor: float = 1.0) -> np.ndarray:
    """Shift a track by semitones and scale its excursions around the (log) median; 0 stays unvoiced."""
    out = np.zeros_like(f0, dtype=np.float64)
    voiced = f0 > 0
    if not voiced.any():
        return out
    log_f0 = np.log(f0[voiced])
    centre = np.median(log_f0)
    out[voiced] = np.exp(centre + range_factor * (log_f0 - centre) + shift_semitones * np.log(2.0) / 12.0)
    return out


def warp_frequency(envelope: np.ndarray, ratio: float) -> np.ndarray:
    """Move spectral features by `ratio` along frequency: new(f) = old(f / ratio), per frame.

    envelope: (frames, bins) up to Nyquist. Bins past the old Nyquist repeat its last value.
    """
    if ratio == 1.0:
        return envelope
    bins = envelope.shape[1]
    src = np.minimum(np.arange(bins) / ratio, bins - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, bins - 1)
    frac = (src - lo)[None, :]
    # interpolating log power keeps formant peaks from smearing into valleys
    log_env = np.log(np.maximum(envelope, 1e-300))
    return np.exp(log_env[:, lo] * (1.0 - frac) + log_env[:, hi] * frac)


def world_convert(samples: np.ndarray, sample_rate: int, f0_shift: float = 0.0, f0_range: float = 1.0,
                  formant_shift: float = 1.0, aperiodicity: str = "keep", breathiness: float = 1.0,
                  f0_method: str = "praat", f0_floor: float = 50.0, f0_ceil: float = 1100.0) -> np.ndarray:
    """Convert one mono signal; returns float32 samples of the same length and rate.

    f0_shift: semitones; f0_range: scale of the f0 excursions around the median (0 = monotone);
    formant_shift: envelope frequency ratio (>1 brighter/smaller vocal tract); aperiodicity 'keep' leaves
    the noise bands where they were, 'scale' warps them with the formants; breathiness multiplies the
    aperiodicity as an exponent 1/b (above 1 more noise in voiced sounds, 0 none).
    """
    import pyworld

    if f0_method not in METHODS:
        raise ValueError(f"f0_method: {f0_method!r} is not one of {', '.join(METHODS)}")
    if aperiodicity not in ("keep", "scale"):
        raise ValueError(f"aperiodicity: {aperiodicity!r} is not one of keep, scale")
    x = np.ascontiguousarray(samples, dtype=np.float64)
    if x.size < sample_rate * 0.05:
        return x.astype(np.float32)  # shorter than one analysis window: nothing to convert
    track = extract_f0(x, sample_rate, f0_method, FRAME_PERIOD_MS / 1000.0, f0_floor, f0_ceil, crepe_model="tiny")
    f0, t = np.ascontiguousarray(track.hz), np.ascontiguousarray(track.times)
    fft_size = pyworld.get_cheaptrick_fft_size(sample_rate, min(f0_floor, 71.0))
    sp = pyworld.cheaptrick(x, f0, t, sample_rate, fft_size=fft_size)
    ap = pyworld.d4c(x, f0, t, sample_rate, fft_size=fft_size)

    new_f0 = transform_f0(f0, f0_shift, f0_range)
    new_sp = warp_frequency(sp, formant_shift)
    new_ap = warp_frequency(ap, formant_shift) if aperiodicity == "scale" else ap
    if breathiness != 1.0:
        # an exponent rather than a gain: voiced bands sit near 0.001, and only a power of the
        # ratio moves them audibly toward noise (b > 1) or toward pure harmonics (b < 1)
        new_ap = np.power(new_ap, 1.0 / breathiness) if breathiness > 0 else np.zeros_like(new_ap)
    new_ap = np.clip(new_ap, 1e-6, 1.0 - 1e-6)
    y = pyworld.synthesize(np.ascontiguousarray(new_f0), np.ascontiguousarray(new_sp),
                           np.ascontiguousarray(new_ap), sample_rate, FRAME_PERIOD_MS)
    # WORLD's output length follows its frame grid; keep the input's exact length
    if y.size >= x.size:
        y = y[:x.size]
    else:
        y = np.pad(y, (0, x.size - y.size))
    return y.astype(np.float32)


class WorldParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    f0_shift: float = Field(0.0, ge=-36.0, le=36.0, description="Pitch shift",
                            json_schema_extra={"unit": "semitones"})
    f0_range: float = Field(1.0, ge=0.0, le=4.0, description="Intonation range around the median pitch "
                                                             "(0 monotone, 1 unchanged, 2 twice as lively)",
                            json_schema_extra={"unit": "x"})
    formant_shift: float = Field(1.0, ge=0.5, le=2.0, description="Formant (spectral envelope) frequency ratio: "
                                                                  ">1 smaller/brighter voice, <1 larger/darker",
                                 json_schema_extra={"unit": "x"})
    aperiodicity: Literal["keep", "scale"] = Field(
        "keep", description="Noise bands: keep them in place or scale them with the formant shift")
    breathiness: float = Field(1.0, ge=0.0, le=4.0, description="Noise in voiced sounds (1 unchanged, above 1 breathier, 0 none)",
                               json_schema_extra={"unit": "x"})
    f0_method: Literal["praat", "harvest", "dio", "crepe", "fcpe"] = Field(
        "praat", description="Pitch tracker for the analysis: praat (fast, faithful on most voices), harvest (WORLD's "
                             "own), dio (fastest, octave slips), crepe/fcpe (neural, for noisy or breathy takes)")
    f0_floor: float = Field(50.0, ge=30.0, le=500.0, description="Lowest pitch to track", json_schema_extra={"unit": "Hz"})
    f0_ceil: float = Field(1100.0, ge=100.0, le=2000.0, description="Highest pitch to track",
                           json_schema_extra={"unit": "Hz"})

    @model_validator(mode="after")
    def _range(self) -> "WorldParams":
        if self.f0_floor >= self.f0_ceil:
            raise ValueError(f"f0_floor ({self.f0_floor} Hz) must be below f0_ceil ({self.f0_ceil} Hz)")
        return self


@node("vc.world", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=WorldParams, category="vc",
      title="WORLD voice changer", memory_mb=512, tags=("vc", "dsp", "pitch", "formant"),
      memory=320.0)  # measured peak: 220-290 B per input sample (16-44.1 kHz): envelopes at 5 ms frames
def world(params: WorldParams, audio: Audio, ctx) -> Audio:
    """Change pitch, intonation range, formants and breathiness of a voice with the WORLD vocoder;
    no model needed. Keeps the duration. E.g. +4 st with formant 1.15 for a lighter voice."""
    data = audio.numpy()
    out = np.empty_like(data)
    for ch in range(audio.channels):
        out[ch] = world_convert(data[ch], audio.sample_rate, params.f0_shift, params.f0_range, params.formant_shift,
                                params.aperiodicity, params.breathiness, params.f0_method, params.f0_floor,
                                params.f0_ceil)
        ctx.progress((ch + 1) / audio.channels, f"channel {ch + 1}/{audio.channels}")
    return Audio(out, audio.sample_rate)
