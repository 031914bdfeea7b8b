"""vc.world: measured pitch, range, formant and breathiness changes on real (espeak) speech."""
from __future__ import annotations

import numpy as np
import parselmouth
import pytest
import scipy.signal
from pydantic import ValidationError

from haysay.graph_engine.contract import default_registry
from haysay.graph_engine.values import Audio
from haysay.nodes.analysis.f0 import extract_f0
from haysay.nodes.tts.espeak import synthesize_espeak
from haysay.nodes.vc.world import transform_f0, warp_frequency, world_convert


@pytest.fixture(scope="module")
def speech():
    return synthesize_espeak("We were away a year ago, and now we are here again.")


def f0_of(samples, rate):
    return extract_f0(samples, rate, "praat", fmin=40.0, fmax=800.0)


def centroid(samples, rate, lo=300.0, hi=4000.0):
    """Power-weighted mean frequency of the band where formants live."""
    f, p = scipy.signal.welch(samples, rate, nperseg=2048)
    band = (f > lo) & (f < hi)
    return float((f[band] * p[band]).sum() / p[band].sum())


def hnr(samples, rate):
    h = parselmouth.Sound(samples.astype(np.float64), rate).to_harmonicity_cc()
    values = h.values[h.values > -100]
    return float(np.mean(values))


@pytest.mark.parametrize("method", ["praat", "harvest", "fcpe"])
def test_octave_up_doubles_median_f0_and_keeps_length(speech, method):
    x, rate = speech.mono(), speech.sample_rate
    y = world_convert(x, rate, f0_shift=12.0, f0_method=method)
    assert y.shape == x.shape and y.dtype == np.float32
    ratio = f0_of(y, rate).voiced_median() / f0_of(x, rate).voiced_median()
    assert ratio == pytest.approx(2.0, rel=0.1)
    assert np.sqrt(np.mean(y ** 2)) > 0.5 * np.sqrt(np.mean(x ** 2))


def test_identity_settings_resynthesize_the_same_voice(speech):
    x, rate = speech.mono(), speech.sample_rate
    y = world_convert(x, rate)
    assert f0_of(y, rate).voiced_median() == pytest.approx(f0_of(x, rate).voiced_median(), rel=0.03)
    assert centroid(y, rate) == pytest.approx(centroid(x, rate), rel=0.05)


def test_default_tracker_keeps_the_pitch_of_a_neural_voice():
    # Piper's low voice sends dio (and partly harvest) into octave slips; the default must not
    from haysay.nodes.tts.piper import synthesize_piper

    voice = synthesize_piper("Good morning. The weather is lovely today.", noise_w=0.0)
    x, rate = voice.mono(), voice.sample_rate
    assert f0_of(world_convert(x, rate), rate).voiced_median() == pytest.approx(f0_of(x, rate).voiced_median(), rel=0.05)


def test_f0_range_zero_flattens_intonation(speech):
    x, rate = speech.mono(), speech.sample_rate
    before, after = f0_of(x, rate), f0_of(world_convert(x, rate, f0_range=0.0), rate)
    assert np.std(after.hz[after.hz > 0]) < 0.25 * np.std(before.hz[before.hz > 0])
    assert after.voiced_median() == pytest.approx(before.voiced_median(), rel=0.05)


def test_formant_shift_moves_the_spectrum(speech):
    x, rate = speech.mono(), speech.sample_rate
    base = centroid(x, rate)
    up = centroid(world_convert(x, rate, formant_shift=1.3), rate)
    down = centroid(world_convert(x, rate, formant_shift=0.8), rate)
    assert up > 1.1 * base and down < 0.92 * base
    # the pitch stays where it was
    y = world_convert(x, rate, formant_shift=1.3, aperiodicity="scale")
    assert f0_of(y, rate).voiced_median() == pytest.approx(f0_of(x, rate).voiced_median(), rel=0.05)


def test_breathiness_lowers_harmonics_to_noise(speech):
    x, rate = speech.mono(), speech.sample_rate
    clean = hnr(world_convert(x, rate), rate)
    breathy = hnr(world_convert(x, rate, breathiness=4.0), rate)
    assert breathy < clean - 2.0  # dB


def test_plain_functions():
    f0 = np.array([0.0, 100.0, 200.0, 0.0, 150.0])
    out = transform_f0(f0, 12.0, 1.0)
    assert np.allclose(out[[1, 2, 4]], 2 * f0[[1, 2, 4]]) and np.all(out[[0, 3]] == 0)
    flat = transform_f0(f0, 0.0, 0.0)
    assert np.allclose(flat[[1, 2, 4]], 150.0)
    env = np.zeros((1, 101)) + 1e-6
    env[0, 20] = 1.0  # a single peak at bin 20
    assert np.argmax(warp_frequency(env, 1.5)[0]) == 30
    assert np.argmax(warp_frequency(env, 0.5)[0]) == 10


def test_node_handles_stereo_and_short_clips(speech):
    spec = default_registry()["vc.world"]
    stereo = Audio(np.stack([speech.mono(), 0.5 * speech.mono()]), speech.sample_rate)
    out = spec.call({"f0_shift": 5.0, "f0_method": "dio"}, audio=stereo)["audio"]
    assert out.channels == 2 and out.frames == stereo.frames and out.sample_rate == stereo.sample_rate
    assert np.sqrt(np.mean(out.numpy()[1] ** 2)) < np.sqrt(np.mean(out.numpy()[0] ** 2))
    tiny = Audio.from_mono(np.zeros(100, np.float32), 16000)
    assert spec.call({}, audio=tiny)["audio"].frames == 100


def test_param_errors_name_the_field():
    params = default_registry()["vc.world"].params
    with pytest.raises(ValidationError, match="f0_floor"):
        params.model_validate({"f0_floor": 400, "f0_ceil": 300})
    with pytest.raises(ValidationError, match="formant_shift"):
        params.model_validate({"formant_shift": 5})
    with pytest.raises(ValidationError, match="aperiodicity"):
        params.model_validate({"aperiodicity": "drop"})
    with pytest.raises(ValueError, match="f0_method"):
        world_convert(np.zeros(16000), 16000, f0_method="yin")
