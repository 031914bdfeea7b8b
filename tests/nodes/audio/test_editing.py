"""audio.trim_silence, audio.fade, audio.pad_crop, audio.concat: measured lengths, levels and positions."""
from __future__ import annotations

import numpy as np
import pytest

from haysay.graph_engine.values import Audio
from haysay.nodes.audio.editing import fade

RATE = 48000


def tone(freq=440.0, seconds=1.0, amp=0.5, rate=RATE):
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def with_silence(before: float, sound: float, after: float, floor_db: float = -80.0) -> Audio:
    rng = np.random.default_rng(3)
    x = np.concatenate([np.zeros(int(before * RATE)), tone(seconds=sound), np.zeros(int(after * RATE))])
    x += rng.normal(0, 10 ** (floor_db / 20), x.size)  # a faint noise floor, as in a real recording
    return Audio.from_mono(x.astype(np.float32), RATE)


def test_trim_removes_measured_silence_keeps_padding(tools):
    out = tools.call("audio.trim_silence", {"threshold_db": -50, "padding": 0.05}, audio=with_silence(0.5, 1.0, 0.7))
    assert out.duration == pytest.approx(1.1, abs=0.011)
    lead = np.flatnonzero(np.abs(out.numpy()[0]) > 0.01)[0] / RATE
    assert lead == pytest.approx(0.05, abs=0.011)


def test_trim_leading_only(tools):
    out = tools.call("audio.trim_silence", {"trailing": False, "padding": 0.0}, audio=with_silence(0.5, 1.0, 0.7))
    assert out.duration == pytest.approx(1.7, abs=0.011)


def test_trim_all_silence_names_threshold(tools):
    with pytest.raises(ValueError, match=r"threshold_db=-50: the whole clip is below it .*lower threshold_db"):
        tools.call("audio.trim_silence", {}, audio=with_silence(1.0, 0.0, 0.0, floor_db=-70))


@pytest.mark.parametrize("curve,half_gain", [("linear", 0.5), ("equal_power", np.sqrt(0.5)), ("s_curve", 0.5),
                                             ("quadratic", 0.25)])
def test_fade_curves_measured(curve, half_gain):
    x = np.ones((1, RATE), np.float32)
    y = fade(x, RATE, fade_in=0.2, fade_out=0.1, curve=curve)[0]
    assert y[0] < 0.01 and y[-1] < 0.01
    assert y[int(0.1 * RATE)] == pytest.approx(half_gain, abs=0.01)
    assert y[RATE - int(0.05 * RATE)] == pytest.approx(half_gain, abs=0.01)
    np.testing.assert_array_equal(y[int(0.2 * RATE):int(0.9 * RATE)], 1.0)


def test_fade_node_across_blocks_matches_function(tools):
    x = Audio(np.ones((2, 3 * RATE), np.float32), RATE)  # longer than one 65536-frame block
    out = tools.call("audio.fade", {"fade_in": 0.5, "fade_out": 2.0, "curve": "s_curve"}, audio=x).numpy()
    np.testing.assert_allclose(out, fade(x.numpy(), RATE, 0.5, 2.0, "s_curve"), atol=1e-7)
    assert out[0, int(2.0 * RATE)] == pytest.approx(0.5, abs=0.01)  # middle of the fade-out


@pytest.mark.parametrize("where,length,first_sound", [("end", 1.5, 0.0), ("start", 1.5, 0.5), ("both", 1.5, 0.25),
                                                      ("end", 0.5, 0.0), ("start", 0.5, None), ("both", 0.5, None)])
def test_pad_crop_lengths_and_positions(tools, where, length, first_sound):
    x = Audio.from_mono(np.arange(1, RATE + 1, dtype=np.float32) / RATE, RATE)  # a ramp: content is traceable
    out = tools.call("audio.pad_crop", {"length": length, "where": where}, audio=x).numpy()[0]
    assert out.size == int(length * RATE)
    if first_sound is not None:
        assert np.flatnonzero(out)[0] / RATE == pytest.approx(first_sound, abs=1 / RATE)
    else:  # cropped: the kept part starts where expected in the original ramp
        kept_from = {"start": 0.5, "both": 0.25}[where]
        assert out[0] * RATE - 1 == pytest.approx(kept_from * RATE, abs=1)


def test_concat_with_gap_and_rate_conversion(tools):
    a = Audio.from_mono(tone(440, 1.0), RATE)
    b = Audio.from_mono(tone(1000, 0.5, rate=16000), 16000)
    out = tools.call("audio.concat", {"gap": 0.25}, a=a, b=b)
    assert out.sample_rate == RATE
    assert out.duration == pytest.approx(1.75, abs=2 / RATE)
    y = out.numpy()[0]
    assert np.abs(y[int(1.02 * RATE):int(1.23 * RATE)]).max() < 1e-3  # the gap is silent
    assert tools.dominant_frequency(y[int(1.3 * RATE):int(1.7 * RATE)], RATE) == pytest.approx(1000, rel=0.002)


def test_concat_spreads_mono_and_rejects_other_mismatch(tools):
    out = tools.call("audio.concat", {}, a=Audio(np.ones((2, 10), np.float32), RATE),
                     b=Audio.from_mono(np.full(5, 0.5, np.float32), RATE)).numpy()
    assert out.shape == (2, 15) and np.all(out[:, 10:] == 0.5)
    with pytest.raises(ValueError, match="input 'a' has 2 channels but the mix has 3"):
        tools.call("audio.concat", {}, a=Audio(np.ones((2, 10), np.float32), RATE),
                   b=Audio(np.ones((3, 10), np.float32), RATE))


def test_editing_param_errors(tools):
    assert tools.param_errors("audio.pad_crop", {"length": 0})[0].field == "length"
    errs = tools.param_errors("audio.pad_crop", {"where": "middle"})
    assert errs[0].field == "where" and "'end', 'start' or 'both'" in errs[0].message
    assert tools.param_errors("audio.fade", {"fade_in": -1})[0].field == "fade_in"
    assert tools.param_errors("audio.trim_silence", {"padding": 10})[0].field == "padding"
