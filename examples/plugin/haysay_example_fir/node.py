"""example.fir: the node wrapper over model.py, following the adapter contract in docs/adapters.md."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, node
from haysay.graph_engine.values import Audio

from haysay_example_fir.detect import ARCHITECTURE


class FirParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., min_length=1, description="Installed example-fir model name, or path to its .fir file")
    mix: float = Field(1.0, ge=0.0, le=1.0, description="0 = the input unchanged, 1 = fully filtered")


class ModelFieldError(ValueError):
    """A bad model named on its params field (the engine shows `node.field: message`)."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


def model_path(params: FirParams) -> Path:
    path = Path(params.model).expanduser()
    if path.exists():
        return path
    from haysay.graph_engine.models import ModelStore

    try:
        return ModelStore.from_env().get(params.model, ARCHITECTURE).file("weights")
    except Exception as exc:
        raise ModelFieldError("model", f"{params.model!r} is not a file, and {exc}") from None


def fingerprint(params: FirParams) -> dict[str, str]:
    """The model file by content: the cache key changes when the file does."""
    import hashlib

    return {"model": hashlib.sha256(model_path(params).read_bytes()).hexdigest()}


# Measured (tracemalloc, tests/test_plugin_kit.py): a float64 copy, the convolution and the float32
# result, about 28 B per input sample; declared with a margin.
BYTES_PER_SAMPLE = 40.0


@node("example.fir", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=FirParams, category="vc",
      title="Example FIR voice model", gpu=False, memory_mb=64, memory=BYTES_PER_SAMPLE, tags=("example",),
      fingerprint=fingerprint,
      lifecycle={"upstream": "haysay examples/plugin", "versions": ("1",), "status": "supported",
                 "licence": "MIT"})
def fir(params: FirParams, audio: Audio, ctx):
    """Filter speech through an example-fir model file (taps + gain), mixed with the dry input."""
    from haysay.graph_engine.warm_pool import default_pool

    from haysay_example_fir.model import ModelFileError, read_model

    path = model_path(params).resolve()
    key = ("example_fir", str(path), path.stat().st_mtime_ns, "cpu")
    try:
        model, warm, seconds = default_pool("cpu").get(key, lambda: read_model(path), path.stat().st_size * 2)
    except ModelFileError as exc:
        raise ModelFieldError("model", str(exc)) from None
    ctx.info["model_load"] = {"example_fir": {"path": str(path), "warm": warm, "load_seconds": round(seconds, 4)}}
    out = np.stack([apply_model_channel(model, ch, params.mix) for ch in audio.data])
    return Audio(out, audio.sample_rate)


def apply_model_channel(model, x: np.ndarray, mix: float) -> np.ndarray:
    from haysay_example_fir.model import apply_model

    return apply_model(model, np.asarray(x, np.float64), mix)
