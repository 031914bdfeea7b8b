"""The typed values that flow along edges, and their port types.

`Audio` is float32 samples shaped (channels, frames) plus a sample rate. Its
samples may live in memory (a numpy array) or in a chunked zarr array of a
stored artifact; block-wise consumers read it chunk by chunk so an hour of
audio never has to sit in one process's memory.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:  # numpy loads in the methods that touch arrays: declaring port types stays light
    import numpy as np

DEFAULT_BLOCK = 1 << 16  # frames per block when streaming


class PortType(str, Enum):
    AUDIO = "Audio"
    TEXT = "Text"
    F0 = "F0"
    FEATURES = "Features"
    METRICS = "Metrics"
    ANY = "Any"

    def accepts(self, other: "PortType") -> bool:
        """Whether an input of this type may take an output of type `other`."""
        return self is PortType.ANY or other is PortType.ANY or self is other


@dataclass(eq=False)
class Audio:
    """Samples (channels, frames) float32 and their sample rate."""

    data: Any  # np.ndarray or a zarr array, shape (channels, frames)
    sample_rate: int

    def __post_init__(self) -> None:
        import numpy as np
        if isinstance(self.data, np.ndarray):
            arr = self.data
            if arr.ndim == 1:
                arr = arr[None, :]
            if arr.ndim != 2:
                raise ValueError(f"Audio samples must be (channels, frames), got shape {arr.shape}")
            self.data = np.ascontiguousarray(arr, dtype=np.float32)
        if int(self.sample_rate) <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        self.sample_rate = int(self.sample_rate)

    @classmethod
    def from_mono(cls, samples: np.ndarray, sample_rate: int) -> "Audio":
        import numpy as np
        return cls(np.asarray(samples, dtype=np.float32)[None, :], sample_rate)

    @property
    def channels(self) -> int:
        return int(self.data.shape[0])

    @property
    def frames(self) -> int:
        return int(self.data.shape[1])

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    @property
    def in_memory(self) -> bool:
        import numpy as np
        return isinstance(self.data, np.ndarray)

    def numpy(self) -> np.ndarray:
        """All samples as one (channels, frames) float32 array."""
        import numpy as np
        if isinstance(self.data, np.ndarray):
            return self.data
        return np.asarray(self.data[:, :], dtype=np.float32)

    def mono(self) -> np.ndarray:
        """Mean over channels, (frames,)."""
        return self.numpy().mean(axis=0)

    def blocks(self, block: int = DEFAULT_BLOCK) -> Iterator[np.ndarray]:
        """Yield consecutive (channels, <=block) float32 slices."""
        import numpy as np
        for start in range(0, self.frames, block):
            yield np.asarray(self.data[:, start:start + block], dtype=np.float32)

    def save(self, path: str | os.PathLike, format: str | None = None, depth: str | None = None) -> "Path":
        """Write to a file block by block (format from `format` or the suffix: wav, flac, ogg, mp3;
        `depth` as audio.save's: 16, 24, 32, float, vorbis, opus, mp3). A stored stage's audio is
        read from the store as it is written: `run["norm"].audio.save("norm.flac")`."""
        from .audiofile import write_audio  # audiofile imports this module
        return write_audio(path, self, format, depth)

    def __repr__(self) -> str:
        where = "memory" if self.in_memory else "store"
        return f"Audio({self.channels}ch, {self.frames} frames @ {self.sample_rate} Hz, {self.duration:.2f}s, {where})"


@dataclass(frozen=True)
class AudioShape:
    """What validation knows of an Audio value before it exists: from a file header or a node's params.

    `notes` carries warnings about the source (a truncated file) for the stage info and the CLI."""

    frames: int
    channels: int
    sample_rate: int
    notes: tuple[str, ...] = ()

    @property
    def samples(self) -> int:
        return self.frames * self.channels

    @property
    def nbytes(self) -> int:
        return 4 * self.samples  # float32

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    def with_(self, **changes: Any) -> "AudioShape":
        """A copy with some fields changed (notes stay with their source, not with derived values)."""
        fields = {"frames": self.frames, "channels": self.channels, "sample_rate": self.sample_rate}
        return AudioShape(**{**fields, **changes})


@dataclass(eq=False)
class F0:
    """A pitch track: frame times (s), frequency (Hz, 0 where unvoiced) and confidence (0..1)."""

    times: np.ndarray
    hz: np.ndarray
    confidence: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        import numpy as np
        self.times = np.asarray(self.times, dtype=np.float64)
        self.hz = np.asarray(self.hz, dtype=np.float64)
        if self.confidence is None:
            self.confidence = (self.hz > 0).astype(np.float64)
        self.confidence = np.asarray(self.confidence, dtype=np.float64)
        if not (self.times.shape == self.hz.shape == self.confidence.shape):
            raise ValueError("F0 times, hz and confidence must have the same length")

    def voiced_median(self) -> float:
        import numpy as np
        voiced = self.hz[self.hz > 0]
        return float(np.median(voiced)) if voiced.size else 0.0


@dataclass(eq=False)
class Features:
    """Frame-level features (frames, dims) at `frame_rate` frames per second."""

    data: np.ndarray
    frame_rate: float

    def __post_init__(self) -> None:
        import numpy as np
        self.data = np.asarray(self.data, dtype=np.float32)


@dataclass(eq=False)
class Metrics:
    """Figures an analysis stage measured: {name: number}, their units, and optionally a text
    (a transcript) and time segments ((n, 2) seconds, start and end: e.g. speech found by a VAD).

    Every figure is a finite number; one that cannot be measured is left out, never NaN."""

    values: dict[str, float]
    units: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    segments: np.ndarray | None = None

    def __post_init__(self) -> None:
        import numpy as np
        values = {}
        for name, v in dict(self.values).items():
            v = float(v)
            if not np.isfinite(v):
                raise ValueError(f"metric {name!r}: {v} is not a finite number")
            values[str(name)] = v
        self.values = values
        self.units = {str(k): str(u) for k, u in dict(self.units or {}).items() if k in values}
        if self.segments is not None:
            seg = np.asarray(self.segments, dtype=np.float64).reshape(-1, 2)
            if np.any(~np.isfinite(seg)) or np.any(seg[:, 1] < seg[:, 0]):
                raise ValueError("metric segments must be finite (start, end) pairs with end >= start")
            self.segments = seg

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (what the artifact store keeps)."""
        out: dict[str, Any] = {"values": self.values, "units": self.units}
        if self.text is not None:
            out["text"] = self.text
        if self.segments is not None:
            out["segments"] = self.segments.tolist()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Metrics":
        import numpy as np
        seg = data.get("segments")
        return cls(data.get("values", {}), data.get("units", {}), data.get("text"),
                   None if seg is None else np.asarray(seg, dtype=np.float64).reshape(-1, 2))

    def __repr__(self) -> str:
        figures = ", ".join(f"{k}={v:.4g}" + (f" {self.units[k]}" if self.units.get(k) else "")
                            for k, v in self.values.items())
        return f"Metrics({figures})"


PYTHON_TYPES: dict[PortType, tuple[type, ...]] = {
    PortType.AUDIO: (Audio,),
    PortType.TEXT: (str,),
    PortType.F0: (F0,),
    PortType.FEATURES: (Features,),
    PortType.METRICS: (Metrics,),
    PortType.ANY: (object,),
}


def check_value(port_type: PortType, value: Any) -> None:
    """Raise TypeError when `value` is not of the port's Python type."""
    expected = PYTHON_TYPES[port_type]
    if not isinstance(value, expected):
        raise TypeError(f"expected {port_type.value}, got {type(value).__name__}")
