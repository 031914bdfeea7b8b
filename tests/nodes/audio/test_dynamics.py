"""audio.noise_gate: measured attenuation of noise between bursts, kept bursts, block-wise == whole."""
from __future__ import annotations

import numpy as np
import pytest

from haysay.graph_engine.values import Audio

RATE = 48000


def bursts() -> Audio:
    """0.3 s noise floor at -60 dBFS, 0.4 s of a 300 Hz tone over it, 0.5 s noise again."""
    rng = np.random.default_rng(4)
    x = rng.normal(0, 10 ** (-60 / 20), int(1.2 * RATE))
    t = np.arange(int(0.4 * RATE)) / RATE
    x[int(0.3 * RATE):int(0.7 * RATE)] += 0.5 * np.sin(2 * np.pi * 300 * t)
    return Audio.from_mono(x.astype(np.float32), RATE)


def test_gate_mutes_noise_keeps_tone(tools):
    x = bursts()
    params = {"threshold_db": -40, "attack_ms": 1, "hold_ms": 20, "release_ms": 50, "floor_db": -60}
    y = tools.call("audio.noise_gate", params, audio=x).numpy()[0]
    src = x.numpy()[0]
    assert y.size == src.size
    lead, tone, tail = slice(0, int(0.28 * RATE)), slice(int(0.32 * RATE), int(0.68 * RATE)), slice(int(1.0 * RATE), None)
    assert tools.rms_db(y[lead]) - tools.rms_db(src[lead]) == pytest.approx(-60, abs=1)
    assert abs(tools.rms_db(y[tone]) - tools.rms_db(src[tone])) < 0.05
    # the tone counts as loud for the 20 ms detector window after it ends (0.72 s), the gate holds 20 ms
    # more (0.74 s), then releases with a 50 ms time constant: one time constant later it is down ~8.7 dB
    mid = slice(int(0.79 * RATE), int(0.80 * RATE))
    assert -14 < tools.rms_db(y[mid]) - tools.rms_db(src[mid]) < -6
    assert tools.rms_db(y[tail]) - tools.rms_db(src[tail]) < -40  # 5+ time constants: closed again


def test_gate_open_below_threshold_passes_all(tools):
    x = bursts()
    y = tools.call("audio.noise_gate", {"threshold_db": -90}, audio=x).numpy()
    # open from the first hop on: after the 2 ms attack the signal passes unchanged
    np.testing.assert_allclose(y[:, int(0.02 * RATE):], x.numpy()[:, int(0.02 * RATE):], atol=1e-6)


@pytest.mark.parametrize("block", [1000, 37, 65536])
def test_gate_blockwise_equals_whole(tools, block):
    x = bursts()
    params = {"threshold_db": -40, "attack_ms": 3, "hold_ms": 10, "release_ms": 30}
    whole = tools.call("audio.noise_gate", params, audio=x).numpy()
    streamed = tools.stream_in_blocks("audio.noise_gate", params, block, audio=x).numpy()
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-7)


def test_gate_param_errors(tools):
    errs = tools.param_errors("audio.noise_gate", {"attack_ms": 0, "threshold_db": 5})
    assert {e.field for e in errs} == {"attack_ms", "threshold_db"}
    assert any("ms" in e.message for e in errs)
