"""audio.noise_gate: silence what stays below a threshold (block-wise).

The detector works on hops of 1 ms: each hop's peak, then the loudest hop in
the last `window_ms` (so one period of a low voice still counts as signal).
The gain moves towards open/closed with separate attack and release times
and is interpolated per sample, so there are no clicks. Incomplete hops wait
for the next block, which makes the streamed result identical to the
whole-array one.
"""
from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, node
from haysay.nodes.audio.gain import db_to_amplitude

HOP_SECONDS = 0.001


class NoiseGate:
    """Stateful gate over (channels, n) blocks; `process` may return fewer frames than given."""

    def __init__(self, rate: int, channels: int, threshold_db: float = -50.0, attack_ms: float = 2.0,
                 hold_ms: float = 20.0, release_ms: float = 100.0, floor_db: float = -80.0,
                 window_ms: float = 20.0):
        self.hop = max(1, round(rate * HOP_SECONDS))
        hop_s = self.hop / rate
        self.threshold = db_to_amplitude(threshold_db)
        self.closed = db_to_amplitude(floor_db) if floor_db > -120 else 0.0
        self.attack = math.exp(-hop_s / (attack_ms / 1000.0))
        self.release = math.exp(-hop_s / (release_ms / 1000.0))
        self.hold_hops = int(round(hold_ms / 1000.0 / hop_s))
        self.window = max(1, int(round(window_ms / 1000.0 / hop_s)))
        self.channels = channels
        self.pending = np.zeros((channels, 0), dtype=np.float32)
        self.history = np.zeros(self.window - 1, dtype=np.float32)  # peaks of the hops before this block
        self.gain = self.closed  # a gate starts closed: leading noise is gated too
        self.since_open = self.hold_hops + 1

    def _gains(self, hop_peaks: np.ndarray) -> np.ndarray:
        """Gain at the end of each hop."""
        levels = np.concatenate([self.history, hop_peaks])
        if self.window > 1:
            levels = np.lib.stride_tricks.sliding_window_view(levels, self.window).max(axis=1)
            self.history = np.concatenate([self.history, hop_peaks])[-(self.window - 1):]
        out = np.empty(len(hop_peaks))
        g, since, hold = self.gain, self.since_open, self.hold_hops
        closed, attack, release = self.closed, self.attack, self.release
        for i, level in enumerate((levels >= self.threshold).tolist()):
            since = 0 if level else since + 1
            if since <= hold:
                g = 1.0 + (g - 1.0) * attack
            else:
                g = closed + (g - closed) * release
            out[i] = g
        self.since_open = since
        return out

    def _apply(self, x: np.ndarray, hops: int, last_len: int) -> np.ndarray:
        if not hops:
            return x
        starts = np.arange(hops) * self.hop
        hop_peaks = np.maximum.reduceat(np.abs(x).max(axis=0), starts)
        ends = self._gains(hop_peaks)
        begins = np.concatenate([[self.gain], ends[:-1]])
        self.gain = float(ends[-1])
        lengths = np.full(hops, self.hop)
        lengths[-1] = last_len
        # per-sample ramp from the previous hop's gain to this hop's gain
        frac = (np.arange(x.shape[1]) - np.repeat(starts, lengths) + 1) / np.repeat(lengths, lengths)
        ramp = np.repeat(begins, lengths) + (np.repeat(ends, lengths) - np.repeat(begins, lengths)) * frac
        return (x * ramp.astype(np.float32)).astype(np.float32)

    def process(self, block: np.ndarray) -> np.ndarray:
        x = np.concatenate([self.pending, np.asarray(block, dtype=np.float32)], axis=1)
        hops = x.shape[1] // self.hop
        self.pending = x[:, hops * self.hop:]
        return self._apply(x[:, :hops * self.hop], hops, self.hop)

    def flush(self) -> np.ndarray:
        x, self.pending = self.pending, np.zeros((self.channels, 0), dtype=np.float32)
        if not x.shape[1]:
            return x
        return self._apply(x, 1, x.shape[1])


def noise_gate(samples: np.ndarray, rate: int, **settings: float) -> np.ndarray:
    """Gate (channels, frames) in one call; settings as for `NoiseGate`."""
    gate = NoiseGate(rate, samples.shape[0], **settings)
    return np.concatenate([gate.process(samples), gate.flush()], axis=1)


class NoiseGateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold_db: float = Field(-50.0, ge=-100.0, le=0.0, description="The gate opens when the peak level rises above this",
                                json_schema_extra={"unit": "dBFS"})
    attack_ms: float = Field(2.0, ge=0.1, le=500.0, description="How fast the gate opens (time constant)",
                             json_schema_extra={"unit": "ms"})
    hold_ms: float = Field(20.0, ge=0.0, le=2000.0, description="How long it stays open after the level drops",
                           json_schema_extra={"unit": "ms"})
    release_ms: float = Field(100.0, ge=1.0, le=5000.0, description="How fast it closes after the hold (time constant: "
                                                                           "about -9 dB after one, -40 dB after five)",
                              json_schema_extra={"unit": "ms"})
    floor_db: float = Field(-80.0, ge=-120.0, le=0.0,
                            description="Gain while closed (-120 means fully silent)", json_schema_extra={"unit": "dB"})


class NoiseGateStream:
    def __init__(self, params: NoiseGateParams, rates: list[int], channels: list[int]):
        self.out_rate, self.out_channels = rates[0], channels[0]
        self.gate = NoiseGate(rates[0], channels[0], **params.model_dump())

    def process(self, block: np.ndarray) -> np.ndarray:
        return self.gate.process(block)

    def flush(self) -> np.ndarray:
        return self.gate.flush()


node("audio.noise_gate", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=NoiseGateParams,
     category="transform", title="Noise gate", stream=NoiseGateStream,
     description="Mute the audio while its level stays below a threshold, with attack, hold and "
                 "release times (block-wise).")(None)
