"""Compare figures measured from generated tones."""
from __future__ import annotations

import math

import pytest

from haysay.studio.measures import difference, measure


def test_peak_rms_duration_of_a_sine(sine_audio):
    f = measure(sine_audio(freq=1000.0, seconds=1.5, amp=0.5))
    assert f.duration_s == pytest.approx(1.5)
    assert f.peak_dbfs == pytest.approx(20 * math.log10(0.5), abs=0.01)
    assert f.rms_dbfs == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=0.01)


def test_loudness_difference_follows_level(sine_audio):
    loud = measure(sine_audio(freq=1000.0, seconds=2.0, amp=0.5))
    quiet = measure(sine_audio(freq=1000.0, seconds=2.0, amp=0.25))
    d = difference(loud, quiet)
    assert d["lufs"] == pytest.approx(-6.02, abs=0.05)
    assert d["peak_dbfs"] == pytest.approx(-6.02, abs=0.01)
    assert d["duration_s"] == pytest.approx(0.0)


def test_short_audio_has_no_loudness(sine_audio):
    f = measure(sine_audio(seconds=0.2))
    assert f.lufs is None and f.duration_s == pytest.approx(0.2)
    assert difference(f, f)["lufs"] is None
