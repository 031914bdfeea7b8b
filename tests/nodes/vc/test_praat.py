"""vc.praat: Praat "Change gender" with measured pitch, range, duration and formant changes."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from pydantic import ValidationError

from haysay.graph_engine.contract import default_registry
from haysay.graph_engine.values import Audio
from haysay.nodes.analysis.f0 import extract_f0
from haysay.nodes.tts.espeak import synthesize_espeak
from haysay.nodes.vc.praat import change_gender, praat_median_pitch


@pytest.fixture(scope="module")
def speech():
    return synthesize_espeak("We were away a year ago, and now we are here again.")


def median_f0(samples, rate):
    return extract_f0(samples, rate, "harvest", fmin=40.0, fmax=800.0).voiced_median()


def centroid(samples, rate, lo=300.0, hi=4000.0):
    f, p = scipy.signal.welch(samples, rate, nperseg=2048)
    band = (f > lo) & (f < hi)
    return float((f[band] * p[band]).sum() / p[band].sum())


def test_octave_up_doubles_median_f0_and_keeps_length(speech):
    x, rate = speech.mono(), speech.sample_rate
    y = change_gender(x, rate, pitch_shift=12.0)
    assert abs(y.size - x.size) <= rate * 0.01
    assert median_f0(y, rate) / median_f0(x, rate) == pytest.approx(2.0, rel=0.1)


def test_new_pitch_median_sets_the_median(speech):
    x, rate = speech.mono(), speech.sample_rate
    y = change_gender(x, rate, new_pitch_median=180.0)
    assert median_f0(y, rate) == pytest.approx(180.0, rel=0.1)
    assert praat_median_pitch(x, rate) == pytest.approx(median_f0(x, rate), rel=0.05)


def test_duration_factor_scales_length_and_keeps_pitch(speech):
    x, rate = speech.mono(), speech.sample_rate
    y = change_gender(x, rate, duration_factor=1.5)
    assert y.size / x.size == pytest.approx(1.5, rel=0.01)
    assert median_f0(y, rate) == pytest.approx(median_f0(x, rate), rel=0.05)


def test_range_and_formants(speech):
    x, rate = speech.mono(), speech.sample_rate
    flat = extract_f0(change_gender(x, rate, pitch_range_factor=0.0), rate, "praat")
    orig = extract_f0(x, rate, "praat")
    assert np.std(flat.hz[flat.hz > 0]) < 0.25 * np.std(orig.hz[orig.hz > 0])
    assert centroid(change_gender(x, rate, formant_shift_ratio=1.3), rate) > 1.1 * centroid(x, rate)
    assert centroid(change_gender(x, rate, formant_shift_ratio=0.8), rate) < 0.92 * centroid(x, rate)


def test_node_keeps_rate_and_channels(speech):
    spec = default_registry()["vc.praat"]
    stereo = Audio(np.stack([speech.mono(), speech.mono()]), speech.sample_rate)
    out = spec.call({"formant_shift_ratio": 1.2, "duration_factor": 0.5}, audio=stereo)["audio"]
    assert out.channels == 2 and out.sample_rate == stereo.sample_rate
    assert out.frames / stereo.frames == pytest.approx(0.5, rel=0.02)
    silence = Audio.from_mono(np.zeros(16000, np.float32), 16000)
    assert np.max(np.abs(spec.call({"pitch_shift": 5}, audio=silence)["audio"].numpy())) < 1e-6


def test_param_errors_name_the_field():
    params = default_registry()["vc.praat"].params
    with pytest.raises(ValidationError, match="new_pitch_median"):
        params.model_validate({"new_pitch_median": 50.0})  # below the default pitch floor
    with pytest.raises(ValidationError, match="pitch_floor"):
        params.model_validate({"pitch_floor": 300.0, "pitch_ceiling": 200.0})
    with pytest.raises(ValidationError, match="duration_factor"):
        params.model_validate({"duration_factor": 10})
