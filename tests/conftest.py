"""Shared fixtures: an isolated HAYSAY_HOME per test, generated audio."""
from __future__ import annotations

import numpy as np
import pytest

from haysay.graph_engine.values import Audio


@pytest.fixture
def haysay_home(tmp_path, monkeypatch):
    """A fresh HAYSAY_HOME (artifacts, models, history) for one test."""
    home = tmp_path / "haysay-home"
    home.mkdir()
    monkeypatch.setenv("HAYSAY_HOME", str(home))
    monkeypatch.delenv("HAYSAY_ARTIFACTS", raising=False)
    monkeypatch.delenv("HAYSAY_SCHEDULER", raising=False)
    return home


def sine(freq: float = 220.0, seconds: float = 1.0, rate: int = 48000, amp: float = 0.5, channels: int = 1) -> Audio:
    t = np.arange(int(seconds * rate)) / rate
    mono = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return Audio(np.repeat(mono[None, :], channels, axis=0), rate)


@pytest.fixture
def sine_audio():
    """Factory for sine tones: sine_audio(freq=220, seconds=1, rate=48000, amp=0.5, channels=1)."""
    return sine
