"""audio.filter and audio.eq: measured attenuation/gain, block-wise == whole, parameter errors."""
from __future__ import annotations

import numpy as np
import pytest

from haysay.graph_engine.values import Audio

RATE = 48000


def gain_at(tools, type_id: str, params: dict, freq: float) -> float:
    """Measured level change (dB) of a sine at `freq`, skipping the filter's start-up."""
    t = np.arange(RATE) / RATE
    x = Audio.from_mono(0.5 * np.sin(2 * np.pi * freq * t), RATE)
    y = tools.call(type_id, params, audio=x).numpy()[0]
    tail = slice(RATE // 2, None)
    return tools.level_at(y[tail], RATE, freq) - tools.level_at(x.numpy()[0][tail], RATE, freq)


def test_highpass_attenuates_below_cutoff(tools):
    p = {"kind": "highpass", "cutoff_hz": 500, "order": 4}
    assert gain_at(tools, "audio.filter", p, 125) < -45  # two octaves below: about 4 * 12 dB
    assert gain_at(tools, "audio.filter", p, 500) == pytest.approx(-3.0, abs=0.2)
    assert abs(gain_at(tools, "audio.filter", p, 4000)) < 0.1


def test_lowpass_and_bandpass(tools):
    lp = {"kind": "lowpass", "cutoff_hz": 1000, "order": 2}
    assert gain_at(tools, "audio.filter", lp, 4000) < -22  # two octaves, 12 dB/octave
    assert abs(gain_at(tools, "audio.filter", lp, 100)) < 0.1
    bp = {"kind": "bandpass", "cutoff_hz": 300, "high_cutoff_hz": 3400, "order": 4}
    assert abs(gain_at(tools, "audio.filter", bp, 1000)) < 0.2
    assert gain_at(tools, "audio.filter", bp, 60) < -40
    assert gain_at(tools, "audio.filter", bp, 12000) < -30
    bs = {"kind": "bandstop", "cutoff_hz": 45, "high_cutoff_hz": 55, "order": 2}
    assert gain_at(tools, "audio.filter", bs, 50) < -30


@pytest.mark.parametrize("kind,freq,gain,probe,expect", [
    ("peaking", 1000, 6.0, 1000, 6.0),
    ("peaking", 2000, -12.0, 2000, -12.0),
    ("low_shelf", 200, 9.0, 30, 9.0),
    ("high_shelf", 4000, -6.0, 16000, -6.0),
])
def test_eq_gain_measured(tools, kind, freq, gain, probe, expect):
    p = {"kind": kind, "freq_hz": freq, "gain_db": gain, "q": 0.707}
    assert gain_at(tools, "audio.eq", p, probe) == pytest.approx(expect, abs=0.3)
    # far from the band the level is untouched
    far = 100 if kind in ("high_shelf",) or (kind == "peaking" and freq >= 1000) else 15000
    assert abs(gain_at(tools, "audio.eq", p, far)) < 0.5


@pytest.mark.parametrize("type_id,params", [
    ("audio.filter", {"kind": "highpass", "cutoff_hz": 200, "order": 6}),
    ("audio.filter", {"kind": "bandpass", "cutoff_hz": 200, "high_cutoff_hz": 2000}),
    ("audio.eq", {"kind": "peaking", "freq_hz": 3000, "gain_db": 8, "q": 4}),
])
def test_blockwise_equals_whole(tools, type_id, params):
    rng = np.random.default_rng(1)
    x = Audio(rng.uniform(-0.5, 0.5, (2, 20000)).astype(np.float32), RATE)
    whole = tools.call(type_id, params, audio=x).numpy()
    streamed = tools.stream_in_blocks(type_id, params, 997, audio=x).numpy()
    assert streamed.shape == whole.shape == x.numpy().shape
    np.testing.assert_allclose(streamed, whole, atol=1e-6)
    assert not np.allclose(whole, x.numpy(), atol=1e-3)  # the filter did something


def test_param_errors_name_the_field(tools):
    errs = tools.param_errors("audio.filter", {"kind": "bandpass", "cutoff_hz": 300})
    assert [e.field for e in errs] == ["high_cutoff_hz"] and "required" in errs[0].message
    errs = tools.param_errors("audio.filter", {"kind": "bandpass", "cutoff_hz": 300, "high_cutoff_hz": 200})
    assert errs[0].field == "high_cutoff_hz" and "above cutoff_hz" in errs[0].message
    errs = tools.param_errors("audio.filter", {"order": 0})
    assert errs[0].field == "order" and "between 1 and 12" in errs[0].message
    errs = tools.param_errors("audio.eq", {"gain_db": 50})
    assert errs[0].field == "gain_db" and "dB" in errs[0].message
    assert tools.param_errors("audio.eq", {"freq": 100})[0].code == "invalid_param"


def test_cutoff_above_nyquist_is_a_clear_error(tools, sine_audio):
    with pytest.raises(ValueError, match=r"cutoff_hz=9000 Hz must be below the Nyquist frequency 8000 Hz"):
        tools.call("audio.filter", {"kind": "lowpass", "cutoff_hz": 9000}, audio=sine_audio(rate=16000))
