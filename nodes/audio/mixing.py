"""audio.to_mono and audio.mix: channel folding and summing two signals (block-wise)."""
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


class MixStream:
    def __init__(self, params: MixParams, rates: list[int], channels: list[int]):
        if len(rates) != 2:
            raise ValueError("audio.mix needs both inputs a and b connected")
        if rates[0] != rates[1]:
            raise ValueError(f"audio.mix: sample rates differ (a: {rates[0]} Hz, b: {rates[1]} Hz); "
                             f"put an audio.resample to {rates[0]} Hz before input b")
        self.params = params
        self.out_rate, self.out_channels = rates[0], max(channels)
        for name, ch in zip("ab", channels):
            if ch != self.out_channels and ch != 1:
                match_channels(np.zeros((ch, 0), np.float32), self.out_channels, name)

    def process(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return mix(a, b, self.params.gain_a_db, self.params.gain_b_db)


node("audio.mix", inputs=[Port("a", AUDIO, description="First signal"), Port("b", AUDIO, description="Second signal")],
     outputs={"audio": AUDIO}, params=MixParams, category="transform", title="Mix", stream=MixStream,
     shape=lambda p, s: s["a"].with_(frames=max(x.frames for x in s.values()), channels=max(x.channels for x in s.values()))
     if "a" in s else None,
     description="Sum two signals with a gain each (block-wise). Rates must match; "
                 "a mono input is spread over the other's channels.")(None)
