"""audio.to_mono and audio.mix: measured levels, channel handling, rate mismatch, block-wise == whole."""
from __future__ import annotations

import numpy as np
import pytest

from haysay.graph_engine.values import Audio

RATE = 48000


def tone(freq, seconds=1.0, amp=0.5, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_to_mono_average_and_pick(tools):
    stereo = Audio(np.stack([tone(440), tone(1000, amp=0.25)]), RATE)
    avg = tools.call("audio.to_mono", {}, audio=stereo).numpy()
    assert avg.shape == (1, RATE)
    assert tools.level_at(avg[0], RATE, 440) == pytest.approx(20 * np.log10(0.25), abs=0.05)
    assert tools.level_at(avg[0], RATE, 1000) == pytest.approx(20 * np.log10(0.125), abs=0.05)
    right = tools.call("audio.to_mono", {"mode": "channel", "channel": 1}, audio=stereo).numpy()
    assert tools.level_at(right[0], RATE, 1000) == pytest.approx(20 * np.log10(0.25), abs=0.05)
    assert tools.level_at(right[0], RATE, 440) < -80


def test_to_mono_channel_out_of_range(tools):
    stereo = Audio(np.zeros((2, 100), np.float32), RATE)
    with pytest.raises(ValueError, match=r"channel=2 but the audio has 2 channel\(s\) \(0..1\)"):
        tools.call("audio.to_mono", {"mode": "channel", "channel": 2}, audio=stereo)


def test_mix_levels_and_length(tools):
    a, b = Audio.from_mono(tone(440, 1.0), RATE), Audio.from_mono(tone(1000, 0.5), RATE)
    out = tools.call("audio.mix", {"gain_a_db": -6.0, "gain_b_db": 3.0}, a=a, b=b).numpy()
    assert out.shape == (1, RATE)  # the longer input's length
    first = out[0, :RATE // 2]
    assert tools.level_at(first, RATE, 440) == pytest.approx(20 * np.log10(0.5) - 6.0, abs=0.05)
    assert tools.level_at(first, RATE, 1000) == pytest.approx(20 * np.log10(0.5) + 3.0, abs=0.05)
    assert tools.level_at(out[0, RATE // 2:], RATE, 1000) < -80  # b has ended: silence there


def test_mix_spreads_mono_over_stereo(tools):
    a = Audio(np.stack([tone(440), tone(440, amp=0.1)]), RATE)
    b = Audio.from_mono(tone(1000), RATE)
    out = tools.call("audio.mix", {}, a=a, b=b).numpy()
    assert out.shape == (2, RATE)
    for ch in out:
        assert tools.level_at(ch, RATE, 1000) == pytest.approx(20 * np.log10(0.5), abs=0.05)


def test_mix_errors_are_clear(tools):
    a = Audio.from_mono(tone(440), RATE)
    with pytest.raises(ValueError, match=r"sample rates differ \(a: 48000 Hz, b: 16000 Hz\).*audio.resample"):
        tools.call("audio.mix", {}, a=a, b=Audio.from_mono(tone(440, rate=16000), 16000))
    with pytest.raises(ValueError, match=r"input 'b' has 3 channels but the mix has 3|'a' has 2 channels"):
        tools.call("audio.mix", {}, a=Audio(np.zeros((2, 10), np.float32), RATE),
                   b=Audio(np.zeros((3, 10), np.float32), RATE))
    errs = tools.param_errors("audio.mix", {"gain_a_db": 30})
    assert errs[0].field == "gain_a_db" and "between -96.0 and 24.0 dB" in errs[0].message


@pytest.mark.parametrize("type_id,params,n_inputs", [
    ("audio.mix", {"gain_a_db": -3, "gain_b_db": -9}, 2),
    ("audio.to_mono", {}, 1),
])
def test_blockwise_equals_whole(tools, type_id, params, n_inputs):
    rng = np.random.default_rng(2)
    a = Audio(rng.uniform(-0.5, 0.5, (2, 9000)).astype(np.float32), RATE)
    b = Audio(rng.uniform(-0.5, 0.5, (2, 7000)).astype(np.float32), RATE)
    inputs = {"a": a, "b": b} if n_inputs == 2 else {"audio": a}
    whole = tools.call(type_id, params, **inputs).numpy()
    streamed = tools.stream_in_blocks(type_id, params, 1000, **inputs).numpy()
    np.testing.assert_allclose(streamed, whole, atol=1e-7)
    assert whole.shape[1] == 9000
