"""audio.gain: change level by a fixed number of decibels (block-wise)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, node


def db_to_amplitude(db: float) -> float:
    return float(10.0 ** (db / 20.0))


class GainParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gain_db: float = Field(0.0, ge=-96.0, le=48.0, description="Level change in decibels",
                           json_schema_extra={"unit": "dB"})


class GainStream:
    def __init__(self, params: GainParams, rates: list[int], channels: list[int]):
        import numpy as np  # where it runs: registering the type stays light
        self.factor = np.float32(db_to_amplitude(params.gain_db))
        self.out_rate, self.out_channels = rates[0], channels[0]

    def process(self, block: np.ndarray) -> np.ndarray:
        return block * self.factor


gain = node("audio.gain", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=GainParams,
            category="transform", title="Gain", stream=GainStream,
            description="Raise or lower the level by a fixed number of decibels.")(None)
