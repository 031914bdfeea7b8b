"""analysis.vad: where the speech is (Silero VAD, the ONNX model inside the `silero-vad` package,
run by onnxruntime)."""
from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, node
from haysay.graph_engine.values import Audio, Metrics, PortType
from haysay.nodes.analysis.measure import mono_at, package_versions, report, require

require("silero_vad", "onnxruntime")  # models inside these wheels; without them the node is left out

RATE = 16000  # silero runs at 8 or 16 kHz
_LOCK = threading.Lock()  # the model carries its recurrent state between windows


@lru_cache(maxsize=1)
def _model():
    from silero_vad import load_silero_vad
    return load_silero_vad(onnx=True)


def speech_segments(samples_16k: np.ndarray, threshold: float = 0.5, min_speech_ms: int = 250,
                    min_silence_ms: int = 100, speech_pad_ms: int = 30) -> np.ndarray:
    """(n, 2) start and end times (s) of the speech in mono float samples at 16 kHz, by silero's
    `get_speech_timestamps` with these settings (its defaults)."""
    import torch
    from silero_vad import get_speech_timestamps

    x = torch.from_numpy(np.ascontiguousarray(samples_16k, dtype=np.float32))
    if x.numel() < 512:  # shorter than one of the model's windows
        return np.zeros((0, 2))
    with _LOCK:
        found = get_speech_timestamps(x, _model(), threshold=threshold, sampling_rate=RATE,
                                      min_speech_duration_ms=min_speech_ms, min_silence_duration_ms=min_silence_ms,
                                      speech_pad_ms=speech_pad_ms)
    return np.array([[s["start"] / RATE, s["end"] / RATE] for s in found], dtype=np.float64).reshape(-1, 2)


class VadParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float = Field(0.5, ge=0.05, le=0.95, description="Speech probability above which a window is speech",
                           json_schema_extra={"unit": "probability"})
    min_speech_ms: int = Field(250, ge=0, le=10_000, description="Shorter bursts are not speech",
                               json_schema_extra={"unit": "ms"})
    min_silence_ms: int = Field(100, ge=0, le=10_000, description="Shorter pauses do not split a segment",
                                json_schema_extra={"unit": "ms"})
    speech_pad_ms: int = Field(30, ge=0, le=2_000, description="Kept around each segment",
                               json_schema_extra={"unit": "ms"})


@node("analysis.vad", inputs={"audio": AUDIO}, outputs={"metrics": PortType.METRICS}, params=VadParams,
      category="analysis", title="Voice activity (VAD)", memory_mb=256, memory=12.0,  # measured 7.5 B/sample
      tags=("vad", "evaluation"), fingerprint=package_versions("silero-vad"))
def vad(params: VadParams, audio: Audio, ctx) -> Metrics:
    """Find the speech: its segments (start, end in seconds), how many, their total length and
    the share of the clip they cover."""
    seg = speech_segments(mono_at(audio, RATE), params.threshold, params.min_speech_ms, params.min_silence_ms,
                          params.speech_pad_ms)
    speech = float((seg[:, 1] - seg[:, 0]).sum()) if seg.size else 0.0
    values = {"segments": float(len(seg)), "speech_s": speech,
              "speech_ratio": speech / audio.duration if audio.frames else 0.0}
    return report(ctx, Metrics(values, {"speech_s": "s", "speech_ratio": "ratio"}, segments=seg))
