"""Figures shown beside A/B players: duration, peak, RMS and integrated loudness."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from haysay.graph_engine import Audio

# pyloudnorm gates on 400 ms blocks; shorter audio has no integrated loudness
MIN_LOUDNESS_SECONDS = 0.4


@dataclass
class Figures:
    duration_s: float
    sample_rate: int
    channels: int
    peak_dbfs: float
    rms_dbfs: float
    lufs: float | None  # None when the audio is too short or silent

    def to_dict(self) -> dict:
        return asdict(self)


def _db(x: float) -> float:
    return float(20.0 * np.log10(x)) if x > 0 else float("-inf")


def measure(audio: Audio) -> Figures:
    data = audio.numpy()
    peak = float(np.max(np.abs(data))) if data.size else 0.0
    rms = float(np.sqrt(np.mean(np.square(data, dtype=np.float64)))) if data.size else 0.0
    lufs = None
    if audio.duration >= MIN_LOUDNESS_SECONDS and peak > 0:
        import pyloudnorm  # scipy.signal under it takes seconds to import: not on the studio's start
        value = pyloudnorm.Meter(audio.sample_rate).integrated_loudness(data.T.astype(np.float64))
        lufs = float(value) if np.isfinite(value) else None
    return Figures(audio.duration, audio.sample_rate, audio.channels, _db(peak), _db(rms), lufs)


def difference(a: Figures, b: Figures) -> dict[str, float | None]:
    """b minus a for each comparable figure."""
    out: dict[str, float | None] = {}
    for name in ("duration_s", "peak_dbfs", "rms_dbfs", "lufs"):
        x, y = getattr(a, name), getattr(b, name)
        out[name] = None if x is None or y is None or not np.isfinite(x) or not np.isfinite(y) else y - x
    return out
