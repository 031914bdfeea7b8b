"""so-vits-svc 3.0 model folders (32k and 48k) in upstream's file layout and a tiny HuBERT-Soft file (built in
the adapter conformance suite's conftest, which runs them too), and a harmonic tone.
"""
from __future__ import annotations

import numpy as np
import pytest

# the model and encoder fixtures are shared with the adapter conformance suite
from ..adapters.conftest import measured_f0, soft_file, v3_files  # noqa: F401


@pytest.fixture(scope="session")
def tone():
    """1.2 s of a 200 Hz harmonic tone at 16 kHz (as an Audio)."""
    from haysay.graph_engine.values import Audio

    t = np.arange(int(1.2 * 16000)) / 16000
    x = sum(0.3 / k * np.sin(2 * np.pi * 200 * k * t) for k in range(1, 6))
    return Audio(x[None].astype(np.float32), 16000)
