"""audio.filter and audio.eq: IIR filters as second-order sections, block-wise.

Butterworth high/low/band-pass and band-stop come from scipy; the EQ bands
(peaking, low shelf, high shelf) are the RBJ "Audio EQ Cookbook" biquads.
Both run through `scipy.signal.sosfilt` with the filter state `zi` carried
from block to block, so a streamed result equals the whole-array result.
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from haysay.graph_engine.contract import AUDIO, node

FilterKind = Literal["highpass", "lowpass", "bandpass", "bandstop"]
EqKind = Literal["peaking", "low_shelf", "high_shelf"]


def _check_below_nyquist(name: str, hz: float, rate: int) -> None:
    if hz >= rate / 2:
        raise ValueError(f"{name}={hz:g} Hz must be below the Nyquist frequency {rate / 2:g} Hz "
                         f"of this {rate} Hz audio")


def butterworth_sos(kind: FilterKind, cutoff_hz: float, rate: int, order: int = 4,
                    high_cutoff_hz: float | None = None) -> np.ndarray:
    """Butterworth filter as second-order sections. Band kinds use [cutoff_hz, high_cutoff_hz]."""
    _check_below_nyquist("cutoff_hz", cutoff_hz, rate)
    if kind in ("bandpass", "bandstop"):
        if high_cutoff_hz is None:
            raise ValueError(f"high_cutoff_hz is required for a {kind} filter")
        _check_below_nyquist("high_cutoff_hz", high_cutoff_hz, rate)
        if high_cutoff_hz <= cutoff_hz:
            raise ValueError(f"high_cutoff_hz ({high_cutoff_hz:g} Hz) must be above cutoff_hz ({cutoff_hz:g} Hz)")
        wn: float | list[float] = [cutoff_hz, high_cutoff_hz]
    else:
        wn = cutoff_hz
    from scipy import signal  # scipy.signal costs most of a second to import: only where a filter is built
    return signal.butter(order, wn, btype=kind, fs=rate, output="sos")


def eq_sos(kind: EqKind, freq_hz: float, gain_db: float, q: float, rate: int) -> np.ndarray:
    """One RBJ cookbook biquad (peaking or shelf) as a single second-order section."""
    _check_below_nyquist("freq_hz", freq_hz, rate)
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * freq_hz / rate
    cos_w, alpha = math.cos(w0), math.sin(w0) / (2.0 * q)
    if kind == "peaking":
        b = [1 + alpha * a, -2 * cos_w, 1 - alpha * a]
        den = [1 + alpha / a, -2 * cos_w, 1 - alpha / a]
    else:
        root = 2.0 * math.sqrt(a) * alpha
        # the high shelf is the low shelf mirrored in frequency (w0 -> pi - w0 flips the sign of cos)
        s = 1.0 if kind == "low_shelf" else -1.0
        b = [a * ((a + 1) - s * (a - 1) * cos_w + root),
             2 * s * a * ((a - 1) - s * (a + 1) * cos_w),
             a * ((a + 1) - s * (a - 1) * cos_w - root)]
        den = [(a + 1) + s * (a - 1) * cos_w + root,
               -2 * s * ((a - 1) + s * (a + 1) * cos_w),
               (a + 1) + s * (a - 1) * cos_w - root]
    return (np.array(b + den, dtype=np.float64) / den[0])[None, :]


def apply_sos(sos: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Filter (channels, frames) along time in one call, from rest."""
    from scipy import signal
    return signal.sosfilt(sos, samples, axis=-1).astype(np.float32)


class SosState:
    """A second-order-section filter that remembers its state across blocks."""

    def __init__(self, sos: np.ndarray, channels: int):
        from scipy.signal import sosfilt
        self._sosfilt = sosfilt
        self.sos = sos
        self.zi = np.zeros((sos.shape[0], channels, 2), dtype=np.float64)

    def process(self, block: np.ndarray) -> np.ndarray:
        out, self.zi = self._sosfilt(self.sos, block, axis=-1, zi=self.zi)
        return out.astype(np.float32)


class FilterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: FilterKind = Field("highpass", description="Filter response")
    cutoff_hz: float = Field(80.0, gt=0.0, le=192000.0,
                             description="Cutoff frequency (lower edge for band-pass/band-stop)",
                             json_schema_extra={"unit": "Hz"})
    # no upper bound here: the engine's range message would hide the band-edge message below;
    # the Nyquist check at run time bounds it anyway
    high_cutoff_hz: float | None = Field(None, gt=0.0,
                                         description="Upper edge, for band-pass/band-stop only",
                                         json_schema_extra={"unit": "Hz"}, validate_default=True)
    order: int = Field(4, ge=1, le=12, description="Butterworth order (steepness: 6 dB/octave per order)")

    @field_validator("high_cutoff_hz")
    @classmethod
    def _band_edges(cls, v: float | None, info: ValidationInfo) -> float | None:
        kind, low = info.data.get("kind"), info.data.get("cutoff_hz")
        if kind in ("bandpass", "bandstop"):
            if v is None:
                raise ValueError(f"is required for a {kind} filter")
            if low is not None and v <= low:
                raise ValueError(f"must be above cutoff_hz ({low:g} Hz), got {v:g}")
        return v


class FilterStream:
    def __init__(self, params: FilterParams, rates: list[int], channels: list[int]):
        self.out_rate, self.out_channels = rates[0], channels[0]
        sos = butterworth_sos(params.kind, params.cutoff_hz, rates[0], params.order, params.high_cutoff_hz)
        self.state = SosState(sos, channels[0])

    def process(self, block: np.ndarray) -> np.ndarray:
        return self.state.process(block)


node("audio.filter", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=FilterParams,
     category="transform", title="Filter", stream=FilterStream,
     description="High-pass, low-pass, band-pass or band-stop Butterworth filter (block-wise).")(None)


class EqParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: EqKind = Field("peaking", description="Band shape")
    freq_hz: float = Field(1000.0, gt=0.0, le=192000.0,
                           description="Centre frequency (peaking) or corner frequency (shelves)",
                           json_schema_extra={"unit": "Hz"})
    gain_db: float = Field(0.0, ge=-36.0, le=36.0, description="Boost (+) or cut (-) at the band",
                           json_schema_extra={"unit": "dB"})
    q: float = Field(0.707, gt=0.05, le=30.0,
                     description="Bandwidth: higher is narrower (for shelves, the corner's steepness)")


class EqStream:
    def __init__(self, params: EqParams, rates: list[int], channels: list[int]):
        self.out_rate, self.out_channels = rates[0], channels[0]
        sos = eq_sos(params.kind, params.freq_hz, params.gain_db, params.q, rates[0])
        self.state = SosState(sos, channels[0])

    def process(self, block: np.ndarray) -> np.ndarray:
        return self.state.process(block)


node("audio.eq", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=EqParams,
     category="transform", title="EQ band", stream=EqStream,
     description="One parametric EQ band: peaking, low shelf or high shelf (block-wise). "
                 "Chain several for a multi-band EQ.")(None)
