"""The example's model file: JSON `{"format": "haysay-example-fir/1", "taps": [...], "gain_db": g}`
(suffix .fir). No haysay imports: the architecture is plain functions over arrays, and reading the
file never runs anything from it."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT = "haysay-example-fir/1"
MAX_TAPS = 4096
MAX_BYTES = 1 << 20


class ModelFileError(ValueError):
    """A file that is not a usable example-fir model; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class FirModel:
    taps: np.ndarray
    gain_db: float


def save_model(path: str | Path, taps, gain_db: float = 0.0) -> Path:
    path = Path(path)
    path.write_text(json.dumps({"format": FORMAT, "taps": [float(t) for t in taps], "gain_db": float(gain_db)}))
    return path


def _load(path: Path) -> dict:
    if not path.is_file():
        raise ModelFileError(path, "file not found")
    if path.stat().st_size > MAX_BYTES:
        raise ModelFileError(path, f"{path.stat().st_size} bytes is too large for an example-fir model")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(path, f"damaged or not JSON ({exc})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ModelFileError(path, f"not an example-fir model (no \"format\": {FORMAT!r})")
    return obj


def is_model_file(path: Path) -> bool:
    """Cheap check for detection."""
    try:
        return path.suffix == ".fir" and bool(_load(path))
    except ModelFileError:
        return False


def read_model(path: str | Path) -> FirModel:
    path = Path(path)
    obj = _load(path)
    taps, gain = obj.get("taps"), obj.get("gain_db", 0.0)
    if not isinstance(taps, list) or not 1 <= len(taps) <= MAX_TAPS \
            or not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in taps):
        raise ModelFileError(path, f"\"taps\" must be a list of 1 to {MAX_TAPS} numbers")
    if not isinstance(gain, (int, float)) or not -60 <= gain <= 24:
        raise ModelFileError(path, f"\"gain_db\" must be a number within [-60, 24], got {gain!r}")
    taps = np.asarray(taps, np.float64)
    if not np.isfinite(taps).all():
        raise ModelFileError(path, "\"taps\" must be finite")
    return FirModel(taps, float(gain))


def apply_model(model: FirModel, x: np.ndarray, mix: float) -> np.ndarray:
    """Filter (same length, zero delay at tap 0), scale, and mix with the dry signal."""
    wet = np.convolve(x, model.taps)[: len(x)] * 10 ** (model.gain_db / 20)
    return (mix * wet + (1 - mix) * x).astype(np.float32)
