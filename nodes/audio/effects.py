"""Studio effects through Spotify's pedalboard (JUCE): reverb, compressor, limiter, chorus, delay,
distortion and high/low shelves, block-wise.

Every effect runs pedalboard's plugin with `reset=False` from block to block, so its state (a
reverb's tail, a compressor's envelope, a delay line) carries over and a streamed result equals the
whole-array one. Params mirror the plugin's attributes with pedalboard's defaults and ranges. As in
pedalboard, the output is as long as the input: a tail ringing past the end is cut (add an
`audio.pad_crop` before the effect to keep it).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, node
from haysay.nodes.audio.gain import db_to_amplitude

# pedalboard is imported where a stream is built: registering these nodes stays light


def _below_nyquist(field: str) -> Callable[[BaseModel, dict], Any]:
    """A `shape=` check that refuses, at validation, a corner frequency the input's rate cannot hold."""
    def shape(params: BaseModel, shapes: dict):
        s = shapes.get("audio")
        if s is not None:
            _check_nyquist(field, getattr(params, field), s.sample_rate)
        return s.with_() if s is not None else None
    return shape


def _check_nyquist(field: str, hz: float, rate: int) -> None:
    if hz >= rate / 2:
        raise ValueError(f"{field}: {hz:g} Hz must be below the Nyquist frequency {rate / 2:g} Hz of this "
                         f"{rate} Hz audio")


class PluginStream:
    """Runs one pedalboard plugin over (channels, frames) blocks, keeping its state between blocks.

    pedalboard guesses the channel layout from the smaller dimension, so a block with no more frames than
    channels (a last block of one frame, say) is held back until more frames come, or padded at the end."""

    def __init__(self, plugin: Any, rate: int, channels: int, out_gain: float = 1.0):
        self.plugin, self.rate, self.channels, self.out_gain = plugin, rate, channels, np.float32(out_gain)
        self.out_rate, self.out_channels = rate, channels
        self.pending = np.zeros((channels, 0), np.float32)

    def _run(self, block: np.ndarray) -> np.ndarray:
        out = self.plugin.process(np.ascontiguousarray(block, dtype=np.float32), float(self.rate), reset=False)
        out = np.asarray(out, dtype=np.float32).reshape(self.channels, -1)
        return out * self.out_gain if self.out_gain != 1.0 else out

    def process(self, block: np.ndarray) -> np.ndarray:
        if self.pending.shape[1]:
            block = np.concatenate([self.pending, block], axis=1)
        if block.shape[1] <= self.channels:
            self.pending = block
            return np.zeros((self.channels, 0), np.float32)
        self.pending = np.zeros((self.channels, 0), np.float32)
        return self._run(block)

    def flush(self) -> np.ndarray:
        n = self.pending.shape[1]
        if not n:
            return np.zeros((self.channels, 0), np.float32)
        padded = np.pad(self.pending, ((0, 0), (0, self.channels + 1 - n)))
        return self._run(padded)[:, :n]


def _plugin_stream(build: Callable[[BaseModel, int], Any], gain: Callable[[BaseModel], float] | None = None,
                   check: Callable[[BaseModel, int], None] | None = None) -> type:
    class Stream(PluginStream):
        def __init__(self, params: BaseModel, rates: list[int], channels: list[int]):
            if check is not None:
                check(params, rates[0])
            super().__init__(build(params, rates[0]), rates[0], channels[0], gain(params) if gain else 1.0)
    return Stream


def _unit(unit: str) -> dict:
    return {"unit": unit}


# --- reverb -------------------------------------------------------------------------------------

class ReverbParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room_size: float = Field(0.5, ge=0.0, le=1.0, description="Size of the simulated room: larger rings longer")
    damping: float = Field(0.5, ge=0.0, le=1.0, description="How fast high frequencies die away in the tail")
    wet_level: float = Field(0.33, ge=0.0, le=1.0, description="Level of the reverberated signal")
    dry_level: float = Field(0.4, ge=0.0, le=1.0, description="Level of the original signal")
    width: float = Field(1.0, ge=0.0, le=1.0, description="Stereo width of the tail")
    freeze_mode: float = Field(0.0, ge=0.0, le=1.0, description="Above 0.5 the tail holds forever (infinite sustain)")


def _reverb(p: ReverbParams, rate: int):
    import pedalboard
    return pedalboard.Reverb(room_size=p.room_size, damping=p.damping, wet_level=p.wet_level,
                             dry_level=p.dry_level, width=p.width, freeze_mode=p.freeze_mode)


node("audio.reverb", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=ReverbParams,
     category="transform", title="Reverb", stream=_plugin_stream(_reverb),
     description="Room reverb (pedalboard / JUCE Freeverb), block-wise.")(None)


# --- dynamics -----------------------------------------------------------------------------------

class CompressorParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold_db: float = Field(0.0, ge=-80.0, le=0.0, description="Level above which the gain is turned down",
                                json_schema_extra=_unit("dB"))
    ratio: float = Field(1.0, ge=1.0, le=100.0,
                         description="Input dB over the threshold per output dB over it (1 = no compression)",
                         json_schema_extra=_unit(":1"))
    attack_ms: float = Field(1.0, gt=0.0, le=1000.0, description="How fast the gain falls when the level rises",
                             json_schema_extra=_unit("ms"))
    release_ms: float = Field(100.0, gt=0.0, le=5000.0, description="How fast the gain recovers",
                              json_schema_extra=_unit("ms"))


def _compressor(p: CompressorParams, rate: int):
    import pedalboard
    return pedalboard.Compressor(threshold_db=p.threshold_db, ratio=p.ratio, attack_ms=p.attack_ms,
                                 release_ms=p.release_ms)


node("audio.compressor", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=CompressorParams,
     category="transform", title="Compressor", stream=_plugin_stream(_compressor),
     description="Downward compressor (pedalboard / JUCE), block-wise: evens out loud and quiet passages.")(None)


class LimiterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold_db: float = Field(-10.0, ge=-60.0, le=0.0,
                                description="Limiting threshold; JUCE's limiter also raises the signal by as "
                                            "much, so a lower threshold drives it harder",
                                json_schema_extra=_unit("dB"))
    release_ms: float = Field(100.0, gt=0.0, le=5000.0, description="How fast the gain recovers",
                              json_schema_extra=_unit("ms"))
    ceiling_db: float = Field(0.0, ge=-60.0, le=0.0,
                              description="Highest output peak: the limiter's output (which never passes "
                                          "0 dBFS) is turned down to it",
                              json_schema_extra=_unit("dBFS"))


def _limiter(p: LimiterParams, rate: int):
    import pedalboard
    return pedalboard.Limiter(threshold_db=p.threshold_db, release_ms=p.release_ms)


node("audio.limiter", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=LimiterParams,
     category="transform", title="Limiter",
     stream=_plugin_stream(_limiter, gain=lambda p: db_to_amplitude(p.ceiling_db)),
     description="Brick-wall limiter (pedalboard / JUCE), block-wise: peaks stay at or under the ceiling.")(None)


# --- modulation and time ------------------------------------------------------------------------

class ChorusParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rate_hz: float = Field(1.0, ge=0.0, lt=100.0, description="Speed of the delay modulation",
                           json_schema_extra=_unit("Hz"))
    depth: float = Field(0.25, ge=0.0, le=1.0, description="How far the delay is modulated")
    centre_delay_ms: float = Field(7.0, ge=1.0, le=100.0, description="Delay the modulation swings around",
                                   json_schema_extra=_unit("ms"))
    feedback: float = Field(0.0, ge=-1.0, le=1.0, description="Share of the delayed signal fed back")
    mix: float = Field(0.5, ge=0.0, le=1.0, description="0 = dry only, 1 = chorused only")


def _chorus(p: ChorusParams, rate: int):
    import pedalboard
    return pedalboard.Chorus(rate_hz=p.rate_hz, depth=p.depth, centre_delay_ms=p.centre_delay_ms,
                             feedback=p.feedback, mix=p.mix)


node("audio.chorus", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=ChorusParams,
     category="transform", title="Chorus", stream=_plugin_stream(_chorus),
     description="Chorus (pedalboard / JUCE): a modulated short delay mixed in, block-wise.")(None)


class DelayParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delay_seconds: float = Field(0.5, ge=0.0, le=30.0, description="Time between the sound and its echo",
                                 json_schema_extra=_unit("s"))
    feedback: float = Field(0.0, ge=0.0, le=1.0, description="Share of each echo fed back (more echoes)")
    mix: float = Field(0.5, ge=0.0, le=1.0, description="0 = dry only, 1 = echo only")


def _delay(p: DelayParams, rate: int):
    import pedalboard
    return pedalboard.Delay(delay_seconds=p.delay_seconds, feedback=p.feedback, mix=p.mix)


node("audio.delay", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=DelayParams,
     category="transform", title="Delay", stream=_plugin_stream(_delay),
     description="Echo (pedalboard / JUCE delay line with feedback), block-wise.")(None)


class DistortionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    drive_db: float = Field(25.0, ge=0.0, le=100.0, description="Gain before the tanh waveshaper",
                            json_schema_extra=_unit("dB"))


def _distortion(p: DistortionParams, rate: int):
    import pedalboard
    return pedalboard.Distortion(drive_db=p.drive_db)


node("audio.distortion", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=DistortionParams,
     category="transform", title="Distortion", stream=_plugin_stream(_distortion),
     description="tanh waveshaping distortion (pedalboard), block-wise.")(None)


# --- shelves ------------------------------------------------------------------------------------

class ShelfParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cutoff_frequency_hz: float = Field(440.0, gt=0.0, le=192000.0, description="Corner frequency of the shelf",
                                       json_schema_extra=_unit("Hz"))
    gain_db: float = Field(0.0, ge=-48.0, le=48.0, description="Boost (+) or cut (-) of the shelf band",
                           json_schema_extra=_unit("dB"))
    q: float = Field(0.7071067690849304, gt=0.0, le=20.0, description="Steepness of the corner")


def _shelf(kind: str) -> Callable[[ShelfParams, int], Any]:
    def build(p: ShelfParams, rate: int):
        import pedalboard
        cls = pedalboard.HighShelfFilter if kind == "high" else pedalboard.LowShelfFilter
        return cls(cutoff_frequency_hz=p.cutoff_frequency_hz, gain_db=p.gain_db, q=p.q)
    return build


def _shelf_check(p: ShelfParams, rate: int) -> None:
    _check_nyquist("cutoff_frequency_hz", p.cutoff_frequency_hz, rate)


for _kind, _title in (("high", "High shelf"), ("low", "Low shelf")):
    node(f"audio.{_kind}_shelf", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=ShelfParams,
         category="transform", title=_title, stream=_plugin_stream(_shelf(_kind), check=_shelf_check),
         shape=_below_nyquist("cutoff_frequency_hz"),
         description=f"{_title} filter (pedalboard / JUCE biquad), block-wise: turns everything "
                     f"{'above' if _kind == 'high' else 'below'} the corner up or down by gain_db.")(None)
