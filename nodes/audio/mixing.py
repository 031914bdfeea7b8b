"""audio.to_mono and audio.mix: channel folding and summing two signals (block-wise).

The mix lines its inputs up in time before summing: by a fixed offset of b against a, or by the lag
that maximises their cross-correlation over the first seconds (b a copy of a that a conversion or a
round trip through other software has delayed). A later input is delayed, never cut: a negative offset
delays a instead of b.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, Port, node
from haysay.nodes.audio.gain import db_to_amplitude


def to_mono(samples: np.ndarray, mode: str = "average", channel: int = 0) -> np.ndarray:
    """(channels, frames) -> (1, frames): the channel mean, or one chosen channel."""
    if mode == "channel":
        if not 0 <= channel < samples.shape[0]:
            raise ValueError(f"channel={channel} but the audio has {samples.shape[0]} channel(s) "
                             f"(0..{samples.shape[0] - 1})")
        return np.asarray(samples[channel:channel + 1], dtype=np.float32)
    return samples.mean(axis=0, keepdims=True, dtype=np.float32)


def match_channels(samples: np.ndarray, channels: int, name: str) -> np.ndarray:
    """Spread a mono signal over `channels`; any other mismatch is an error naming the input."""
    have = samples.shape[0]
    if have == channels:
        return samples
    if have == 1:
        return np.repeat(samples, channels, axis=0)
    raise ValueError(f"input {name!r} has {have} channels but the mix has {channels}; "
                     f"only mono inputs are spread over channels (add audio.to_mono first)")


def mix(a: np.ndarray, b: np.ndarray, gain_a_db: float = 0.0, gain_b_db: float = 0.0) -> np.ndarray:
    """Sum two equal-rate signals with gains; the shorter reads as silence past its end."""
    channels = max(a.shape[0], b.shape[0])
    frames = max(a.shape[1], b.shape[1])
    out = np.zeros((channels, frames), dtype=np.float32)
    out[:, :a.shape[1]] += match_channels(a, channels, "a") * np.float32(db_to_amplitude(gain_a_db))
    out[:, :b.shape[1]] += match_channels(b, channels, "b") * np.float32(db_to_amplitude(gain_b_db))
    return out


def best_lag(a: np.ndarray, b: np.ndarray, max_lag: int) -> int:
    """The lag (frames) that lines b up with a: positive when b is early (delay b by it), negative when
    b is late (delay a by minus it). Channels are folded to mono; the search stays within +-max_lag."""
    from scipy import signal

    x, y = a.mean(axis=0, dtype=np.float64), b.mean(axis=0, dtype=np.float64)
    if not x.size or not y.size:
        return 0
    corr = signal.correlate(x, y, mode="full", method="fft")
    lags = np.arange(-(y.size - 1), x.size)
    keep = np.abs(lags) <= max_lag
    return int(lags[keep][np.argmax(corr[keep])])


class ToMonoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["average", "channel"] = Field("average", description="Average all channels, or keep one")
    channel: int = Field(0, ge=0, le=63, description="Which channel to keep when mode is 'channel' (0 = first/left)")


class ToMonoStream:
    def __init__(self, params: ToMonoParams, rates: list[int], channels: list[int]):
        self.mode, self.channel = params.mode, params.channel
        if self.mode == "channel" and self.channel >= channels[0]:
            raise ValueError(f"channel={self.channel} but the audio has {channels[0]} channel(s) "
                             f"(0..{channels[0] - 1})")
        self.out_rate, self.out_channels = rates[0], 1

    def process(self, block: np.ndarray) -> np.ndarray:
        return to_mono(block, self.mode, self.channel)


node("audio.to_mono", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=ToMonoParams,
     category="transform", title="To mono", stream=ToMonoStream, shape=lambda p, s: s["audio"].with_(channels=1),
     description="Fold to one channel: the average of all channels, or one picked channel.")(None)


class MixParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gain_a_db: float = Field(0.0, ge=-96.0, le=24.0, description="Level of input a", json_schema_extra={"unit": "dB"})
    gain_b_db: float = Field(0.0, ge=-96.0, le=24.0, description="Level of input b", json_schema_extra={"unit": "dB"})
    offset_b_ms: float = Field(0.0, ge=-600000.0, le=600000.0,
                               description="Where b starts against a: positive later, negative earlier (a is then "
                                           "delayed); with align=xcorr, added to the measured lag",
                               json_schema_extra={"unit": "ms"})
    align: Literal["none", "xcorr"] = Field("none", description="xcorr: first line b up with a by the lag of "
                                                                "their highest cross-correlation (b a copy of a)")
    max_lag_ms: float = Field(1000.0, gt=0.0, le=10000.0, description="xcorr: the largest lag searched, either way",
                              json_schema_extra={"unit": "ms"})
    align_window_s: float = Field(10.0, ge=0.5, le=60.0, description="xcorr: how much of the start is compared "
                                                                     "(held in memory until the lag is known)",
                                  json_schema_extra={"unit": "s"})


class _Fifo:
    """Frames waiting to be mixed, after a head start of silence (the delay)."""

    def __init__(self, channels: int, delay: int):
        self.data = np.zeros((channels, delay), np.float32)

    def push(self, block: np.ndarray) -> None:
        self.data = np.concatenate([self.data, block], axis=1) if self.data.shape[1] else block

    def pop(self, n: int) -> np.ndarray:
        out, self.data = self.data[:, :n], self.data[:, n:]
        return out


class MixStream:
    def __init__(self, params: MixParams, rates: list[int], channels: list[int]):
        if len(rates) != 2:
            raise ValueError("audio.mix needs both inputs a and b connected")
        if rates[0] != rates[1]:
            raise ValueError(f"audio.mix: sample rates differ (a: {rates[0]} Hz, b: {rates[1]} Hz); "
                             f"put an audio.resample to {rates[0]} Hz before input b")
        self.params, self.rate, self.channels = params, rates[0], channels
        self.out_rate, self.out_channels = rates[0], max(channels)
        for name, ch in zip("ab", channels):
            if ch != self.out_channels and ch != 1:
                match_channels(np.zeros((ch, 0), np.float32), self.out_channels, name)
        self.offset = int(round(params.offset_b_ms * self.rate / 1000.0))
        self.held: list[tuple[np.ndarray, np.ndarray]] | None = [] if params.align == "xcorr" else None
        self.fifos: tuple[_Fifo, _Fifo] | None = None if self.held is not None else self._start(0)

    def _start(self, lag: int) -> tuple[_Fifo, _Fifo]:
        shift = lag + self.offset
        return _Fifo(self.channels[0], max(0, -shift)), _Fifo(self.channels[1], max(0, shift))

    def _align(self) -> np.ndarray:
        a = np.concatenate([x for x, _ in self.held], axis=1)
        b = np.concatenate([y for _, y in self.held], axis=1)
        self.held = None
        self.fifos = self._start(best_lag(a, b, int(round(self.params.max_lag_ms * self.rate / 1000.0))))
        return self._mix(a, b)

    def _mix(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        fa, fb = self.fifos
        fa.push(a)
        fb.push(b)
        n = min(fa.data.shape[1], fb.data.shape[1])
        return mix(fa.pop(n), fb.pop(n), self.params.gain_a_db, self.params.gain_b_db)

    def process(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self.held is None:
            return self._mix(a, b)
        self.held.append((a, b))
        if sum(x.shape[1] for x, _ in self.held) < self.params.align_window_s * self.rate:
            return np.zeros((self.out_channels, 0), np.float32)
        return self._align()

    def flush(self) -> np.ndarray:
        head = self._align() if self.held else np.zeros((self.out_channels, 0), np.float32)
        if self.fifos is None:
            return head
        fa, fb = self.fifos
        n = max(fa.data.shape[1], fb.data.shape[1])
        tail = mix(fa.pop(n), fb.pop(n), self.params.gain_a_db, self.params.gain_b_db)
        return np.concatenate([head, tail], axis=1)


def _mix_shape(p: MixParams, s):
    if "a" not in s:
        return None
    if p.align == "xcorr" and "b" in s:  # the lag is measured when it runs
        return None
    shift = abs(int(round(p.offset_b_ms * s["a"].sample_rate / 1000.0))) if "b" in s else 0
    return s["a"].with_(frames=max(x.frames for x in s.values()) + shift,
                        channels=max(x.channels for x in s.values()))


node("audio.mix", inputs=[Port("a", AUDIO, description="First signal"), Port("b", AUDIO, description="Second signal")],
     outputs={"audio": AUDIO}, params=MixParams, category="transform", title="Mix", stream=MixStream,
     shape=_mix_shape,
     description="Sum two signals with a gain each, b offset against a or aligned to it by cross-correlation "
                 "(block-wise). Rates must match; a mono input is spread over the other's channels; the mix "
                 "is as long as the longer input plus the offset.")(None)
