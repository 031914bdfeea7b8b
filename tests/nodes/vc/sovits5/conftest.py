"""so-vits-svc 5.0 test data and helpers; the model, encoder and speaker fixtures live in ../conftest.py
(shared with the adapter conformance suite)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def features() -> dict[str, np.ndarray]:
    return dict(np.load(DATA / "features.npz"))


@pytest.fixture(scope="session")
def speech():
    """About 2 s of espeak-ng speech (22.05 kHz Audio)."""
    from haysay.nodes.tts.espeak import synthesize_espeak

    return synthesize_espeak("Hello there, a short voice test.")


def measured_f0(samples: np.ndarray, rate: int) -> float:
    """Median Praat pitch of the voiced frames (0 if none)."""
    import parselmouth

    hz = parselmouth.Sound(samples.astype(np.float64), rate).to_pitch_ac(
        pitch_floor=50, pitch_ceiling=1100).selected_array["frequency"]
    return float(np.median(hz[hz > 0])) if (hz > 0).any() else 0.0

