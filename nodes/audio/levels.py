"""audio.peak_normalize and audio.loudness_normalize (ITU-R BS.1770 via pyloudnorm)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import soxr
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, node
from haysay.graph_engine.values import Audio
from haysay.nodes.audio.gain import db_to_amplitude

TRUE_PEAK_OVERSAMPLING = 4  # what BS.1770-4 Annex 2 prescribes for 48 kHz audio
MAX_LOUDNESS_CHANNELS = 5  # BS.1770 channel weights cover L, R, C, Ls, Rs


def amplitude_to_db(amplitude: float) -> float:
    return 20.0 * math.log10(amplitude) if amplitude > 0 else -math.inf


def sample_peak(samples: np.ndarray) -> float:
    """Largest absolute sample value (linear)."""
    return float(np.max(np.abs(samples))) if samples.size else 0.0


def true_peak(samples: np.ndarray, rate: int) -> float:
    """Peak of the signal between samples too, estimated by 4x oversampling (linear)."""
    if not samples.size:
        return 0.0
    up = soxr.resample(np.ascontiguousarray(samples.T), rate, rate * TRUE_PEAK_OVERSAMPLING, quality="HQ")
    return max(float(np.max(np.abs(up))), sample_peak(samples))


def integrated_loudness(samples: np.ndarray, rate: int) -> float:
    """BS.1770 integrated loudness in LUFS of (channels, frames); clear errors when it is undefined."""
    import pyloudnorm  # pulls in scipy.signal (most of a second): only where loudness is measured
    meter = pyloudnorm.Meter(rate)
    seconds = samples.shape[1] / rate
    if seconds < meter.block_size:
        raise ValueError(f"audio is {seconds:.3f} s long; BS.1770 loudness needs at least "
                         f"{meter.block_size:g} s (pad it first, or use audio.peak_normalize)")
    lufs = float(meter.integrated_loudness(np.ascontiguousarray(samples.T, dtype=np.float64)))
    if not math.isfinite(lufs):
        raise ValueError("audio is silent (below the -70 LUFS gate of BS.1770); there is no loudness to normalize")
    return lufs


@dataclass
class LoudnessResult:
    samples: np.ndarray
    input_lufs: float
    gain_db: float
    peak_db: float  # after the gain, sample or true peak as measured
    limited_by_ceiling: bool


def loudness_normalize(samples: np.ndarray, rate: int, target_lufs: float,
                       ceiling_db: float | None = None, use_true_peak: bool = True) -> LoudnessResult:
    """Scale to `target_lufs`; if that would push the peak above `ceiling_db`, stop at the ceiling.

    A plain gain keeps the sound unchanged; when the ceiling wins the output is
    quieter than the target (reported in the result) rather than limited.
    """
    lufs = integrated_loudness(samples, rate)
    gain_db = target_lufs - lufs
    peak = true_peak(samples, rate) if use_true_peak else sample_peak(samples)
    peak_after = amplitude_to_db(peak) + gain_db
    limited = ceiling_db is not None and peak_after > ceiling_db
    if limited:
        gain_db -= peak_after - ceiling_db
        peak_after = ceiling_db
    out = (samples * np.float32(db_to_amplitude(gain_db))).astype(np.float32)
    return LoudnessResult(out, lufs, gain_db, peak_after, limited)


class PeakParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    peak_db: float = Field(-1.0, ge=-60.0, le=0.0, description="Level of the loudest sample",
                           json_schema_extra={"unit": "dBFS"})


@node("audio.peak_normalize", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=PeakParams,
      category="transform", title="Peak normalize", memory=0.0)  # two passes over blocks
def peak_normalize(params: PeakParams, audio: Audio, ctx):
    """Scale so the loudest sample sits at peak_db. Silence passes through unchanged."""
    # two passes over blocks (peak, then gain) so stored audio never has to fit in memory
    peak = max((sample_peak(b) for b in audio.blocks()), default=0.0)
    gain = db_to_amplitude(params.peak_db) / peak if peak > 0 else 1.0
    ctx.info.update(input_peak_db=amplitude_to_db(peak), gain_db=amplitude_to_db(gain))
    sink = ctx.audio_sink("audio", audio.sample_rate, audio.channels)
    for b in audio.blocks():
        sink.write(b * np.float32(gain))
    return sink.finish()


class LoudnessParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target_lufs: float = Field(-23.0, ge=-70.0, le=-5.0,
                               description="Integrated loudness to reach (EBU R128: -23, podcasts/streaming: -16)",
                               json_schema_extra={"unit": "LUFS"})
    peak_ceiling_db: float | None = Field(-1.0, ge=-30.0, le=0.0,
                                          description="Never let the peak exceed this; the gain stops short of "
                                                      "the target instead (empty: no ceiling)",
                                          json_schema_extra={"unit": "dBFS"})
    true_peak: bool = Field(True, description="Measure the ceiling on the 4x-oversampled (true) peak, "
                                              "not just the sample peak")


def _loudness_input(params: LoudnessParams, shapes):
    a = shapes["audio"]
    if a.channels > MAX_LOUDNESS_CHANNELS:
        raise ValueError(f"audio has {a.channels} channels; BS.1770 loudness weights at most "
                         f"{MAX_LOUDNESS_CHANNELS} (put an audio.to_mono before it)")
    if a.duration < 0.4:
        raise ValueError(f"audio is {a.duration:.3f} s long; BS.1770 loudness needs at least 0.4 s "
                         "(pad it first, or use audio.peak_normalize)")
    return a.with_()


@node("audio.loudness_normalize", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=LoudnessParams,
      category="transform", title="Loudness normalize", shape=_loudness_input,
      memory=28.0)  # bytes per sample, measured: the input, a float64 copy, the 4x true-peak signal
def loudness_normalize_node(params: LoudnessParams, audio: Audio, ctx):
    """Set the integrated loudness (ITU-R BS.1770, LUFS) with a plain gain, optionally under a peak ceiling.
    Needs at least 0.4 s of non-silent audio."""
    res = loudness_normalize(audio.numpy(), audio.sample_rate, params.target_lufs,
                             params.peak_ceiling_db, params.true_peak)
    ctx.info.update(input_lufs=round(res.input_lufs, 2), gain_db=round(res.gain_db, 2),
                    peak_db=round(res.peak_db, 2), limited_by_ceiling=res.limited_by_ceiling)
    return Audio(res.samples, audio.sample_rate)
