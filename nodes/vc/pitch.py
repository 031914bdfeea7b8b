"""Pitch for the neural voice-conversion adapters: tracking on a model's frame grid, coarse pitch ids,
and so-vits's unvoiced interpolation. Tracking itself is nodes.analysis.f0.extract_f0."""
from __future__ import annotations

import numpy as np

from haysay.nodes.analysis.f0 import rmvpe_checkpoint

# The f0 methods offered by the adapters, by their upstream names ("pm" is Praat's autocorrelation).
F0_METHODS = ("pm", "harvest", "dio", "crepe", "crepe-tiny", "fcpe", "rmvpe")
F0_MIN, F0_MAX = 50.0, 1100.0
_MEL_MIN = 1127.0 * np.log(1.0 + F0_MIN / 700.0)
_MEL_MAX = 1127.0 * np.log(1.0 + F0_MAX / 700.0)


def track_f0(samples: np.ndarray, sample_rate: int, method: str, hop_seconds: float, n_frames: int,
             device: str | None = None) -> np.ndarray:
    """Hz per frame (0 = unvoiced), frame i at i * hop_seconds, exactly n_frames long."""
    from haysay.nodes.analysis.f0 import extract_f0

    if method not in F0_METHODS:
        raise ValueError(f"f0_method: unknown method {method!r}; one of {', '.join(F0_METHODS)}")
    name = {"pm": "praat", "crepe-tiny": "crepe"}.get(method, method)
    extra = {"crepe_model": "tiny" if method == "crepe-tiny" else "full",
             "checkpoint": rmvpe_checkpoint() if method == "rmvpe" else None}
    track = extract_f0(np.asarray(samples, np.float64), sample_rate, name, hop_seconds=hop_seconds,
                       fmin=F0_MIN, fmax=F0_MAX, device=device, **extra)
    hz = np.asarray(track.hz, dtype=np.float64)[:n_frames]
    if hz.size < n_frames:
        hz = np.pad(hz, (0, n_frames - hz.size))
    return hz


def coarse_pitch(f0: np.ndarray) -> np.ndarray:
    """RVC/so-vits pitch ids: mel-scaled f0 quantised to 1..255 (1 = unvoiced)."""
    mel = 1127.0 * np.log(1.0 + np.asarray(f0, np.float64) / 700.0)
    voiced = mel > 0
    mel[voiced] = (mel[voiced] - _MEL_MIN) * 254.0 / (_MEL_MAX - _MEL_MIN) + 1.0
    mel = np.clip(mel, 1.0, 255.0)
    return np.rint(mel).astype(np.int64)


def interpolate_unvoiced(f0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """so-vits input: f0 with unvoiced gaps filled linearly between voiced neighbours, and the 0/1 voicing."""
    f0 = np.asarray(f0, np.float64)
    uv = (f0 > 0).astype(np.float64)
    if not uv.any():
        return np.zeros_like(f0), uv
    idx = np.arange(f0.size)
    filled = np.interp(idx, idx[f0 > 0], f0[f0 > 0])
    return filled, uv
