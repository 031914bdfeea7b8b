"""Measuring helpers for the audio transform tests: frequency, level at a frequency, stream vs whole."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from haysay.graph_engine.contract import MemorySink, default_registry, run_stream
from haysay.graph_engine.values import Audio


def dominant_frequency(x: np.ndarray, rate: int) -> float:
    """Frequency of the strongest spectral peak (Hz), refined by parabolic interpolation on log magnitude."""
    zoom = 8
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), zoom * len(x)))
    k = int(np.argmax(spec[1:-1])) + 1
    a, b, c = np.log(spec[k - 1:k + 2] + 1e-12)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / (zoom * len(x))


def level_at(x: np.ndarray, rate: int, freq: float) -> float:
    """Amplitude (dB re full scale sine) of the component at `freq`, by projecting on a complex tone."""
    t = np.arange(len(x)) / rate
    amp = 2.0 * abs(np.mean(x * np.exp(-2j * np.pi * freq * t)))
    return 20.0 * np.log10(max(amp, 1e-12))


def rms_db(x: np.ndarray) -> float:
    return 20.0 * np.log10(max(float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))), 1e-12))


def stream_in_blocks(type_id: str, params: dict, block: int, **inputs: Audio) -> Audio:
    """Run a block-wise node through its stream with small blocks."""
    spec = default_registry()[type_id]
    return run_stream(spec, spec.params.model_validate(params), inputs, MemorySink, block=block)


def call(type_id: str, params: dict | None = None, **inputs):
    """Run a node directly (whole values) and return its single output."""
    spec = default_registry()[type_id]
    return next(iter(spec.call(params or {}, **inputs).values()))


def param_errors(type_id: str, raw: dict):
    from haysay.graph_engine.graph import validate_params
    spec = default_registry()[type_id]
    _, errors = validate_params("n1", spec, raw)
    return errors


@pytest.fixture(scope="session")
def speech() -> Audio:
    """A spoken sentence from espeak-ng (mono, 22050 Hz)."""
    from haysay.nodes.tts.espeak import synthesize_espeak
    return synthesize_espeak("Hello there. This sentence is spoken to test the audio transforms.")


@pytest.fixture(scope="session")
def tools() -> SimpleNamespace:
    """The helpers above, for test modules (conftest is not importable under importlib mode)."""
    return SimpleNamespace(dominant_frequency=dominant_frequency, level_at=level_at, rms_db=rms_db,
                           stream_in_blocks=stream_in_blocks, call=call, param_errors=param_errors)
