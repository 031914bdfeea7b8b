"""audio.resample: high-quality sample-rate conversion with soxr (block-wise, streaming)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, node

if TYPE_CHECKING:
    import numpy as np

QUALITY = {"quick": "QQ", "low": "LQ", "medium": "MQ", "high": "HQ", "very_high": "VHQ"}


def resample(samples: np.ndarray, in_rate: int, out_rate: int, quality: str = "high") -> np.ndarray:
    """Resample (channels, frames) float32 in one call."""
    import numpy as np  # numpy and soxr load where it runs: registering the type stays light
    import soxr
    if in_rate == out_rate:
        return np.asarray(samples, dtype=np.float32)
    out = soxr.resample(np.ascontiguousarray(samples.T), in_rate, out_rate, quality=QUALITY[quality])
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).T.reshape(samples.shape[0], -1))


class ResampleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_rate: int = Field(16000, ge=1000, le=384000, description="Target sample rate",
                             json_schema_extra={"unit": "Hz"})
    quality: Literal["quick", "low", "medium", "high", "very_high"] = Field(
        "high", description="soxr quality preset")


class SoxrStream:
    """Streaming soxr conversion from `in_rate` to `out_rate`; a pass-through when they are equal."""

    def __init__(self, in_rate: float, out_rate: int, channels: int, quality: str = "high"):
        self.out_rate, self.out_channels = out_rate, channels
        self.passthrough = in_rate == out_rate
        if not self.passthrough:
            import soxr
            self.stream = soxr.ResampleStream(in_rate, out_rate, channels, dtype="float32", quality=QUALITY[quality])

    def process(self, block: np.ndarray) -> np.ndarray:
        if self.passthrough:
            return block
        import numpy as np
        return self.stream.resample_chunk(np.ascontiguousarray(block.T)).T

    def flush(self) -> np.ndarray | None:
        if self.passthrough:
            return None
        import numpy as np
        return self.stream.resample_chunk(np.zeros((0, self.out_channels), np.float32), last=True).T


class ResampleStream(SoxrStream):
    def __init__(self, params: ResampleParams, rates: list[int], channels: list[int]):
        super().__init__(rates[0], params.sample_rate, channels[0], params.quality)


def _resampled(params: ResampleParams, shapes):
    a = shapes["audio"]
    return a.with_(frames=-(-a.frames * params.sample_rate // a.sample_rate), sample_rate=params.sample_rate)


node("audio.resample", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=ResampleParams, shape=_resampled,
     category="transform", title="Resample", stream=ResampleStream,
     description="Convert to another sample rate (soxr, streaming).")(None)
