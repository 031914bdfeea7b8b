"""extract_f0 / analysis.pitch: every method on a sine of known frequency and on real speech."""
from __future__ import annotations

import io

import numpy as np
import pytest
from pydantic import ValidationError

from haysay.graph_engine.contract import default_registry
from haysay.nodes.analysis.f0 import METHODS, extract_f0, plot_f0
from haysay.nodes.tts.espeak import synthesize_espeak

FAST = {"crepe_model": "tiny"}


@pytest.fixture(scope="module")
def speech():
    return synthesize_espeak("We were away a year ago, and now we are here again.")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("freq", [220.0, 330.0])
def test_sine_frequency_is_found(sine_audio, method, freq):
    audio = sine_audio(freq=freq, seconds=1.0, rate=44100, amp=0.3)
    f0 = extract_f0(audio.mono(), audio.sample_rate, method, **FAST)
    assert f0.times.size == 101 and np.allclose(np.diff(f0.times), 0.01)
    inner = f0.hz[10:-10]  # edges see the signal's start/stop
    assert np.mean(inner > 0) > 0.9
    assert f0.voiced_median() == pytest.approx(freq, rel=0.03)
    assert np.all((f0.confidence >= 0) & (f0.confidence <= 1))


@pytest.mark.parametrize("method", METHODS)
def test_low_harmonic_tone(method):
    # a voice-like low tone: fundamental plus falling harmonics (FCPE misreads bare low sines)
    rate, freq = 16000, 110.0
    t = np.arange(rate) / rate
    x = sum(0.3 / k * np.sin(2 * np.pi * freq * k * t) for k in range(1, 10))
    f0 = extract_f0(x, rate, method, **FAST)
    assert np.mean(f0.hz[10:-10] > 0) > 0.9
    assert f0.voiced_median() == pytest.approx(freq, rel=0.03)


def test_methods_agree_on_speech(speech):
    medians = {m: extract_f0(speech.mono(), speech.sample_rate, m, **FAST).voiced_median() for m in METHODS}
    ref = medians["praat"]
    assert 70 < ref < 200  # espeak's default male voice
    for method, value in medians.items():
        assert value == pytest.approx(ref, rel=0.1), (method, medians)


def test_speech_has_voiced_and_unvoiced_frames(speech):
    for method in ("harvest", "praat", "fcpe"):
        f0 = extract_f0(speech.mono(), speech.sample_rate, method)
        voiced = np.mean(f0.hz > 0)
        assert 0.3 < voiced < 0.97, (method, voiced)


@pytest.mark.parametrize("method", METHODS)
def test_silence_is_unvoiced(method):
    f0 = extract_f0(np.zeros(16000), 16000, method, **FAST)
    assert np.mean(f0.hz > 0) < 0.05


def test_hop_and_range_are_respected(sine_audio):
    audio = sine_audio(freq=440.0, seconds=0.5, rate=16000)
    f0 = extract_f0(audio.mono(), 16000, "dio", hop_seconds=0.02)
    assert f0.times.size == 26 and np.allclose(np.diff(f0.times), 0.02)
    capped = extract_f0(audio.mono(), 16000, "praat", fmin=50.0, fmax=300.0)
    assert np.all((capped.hz == 0) | (capped.hz <= 300.0))


def test_bad_arguments_name_the_field():
    x = np.zeros(16000)
    with pytest.raises(ValueError, match="method: unknown pitch method 'yin'"):
        extract_f0(x, 16000, "yin")
    with pytest.raises(ValueError, match="fmin/fmax"):
        extract_f0(x, 16000, "dio", fmin=500.0, fmax=100.0)
    with pytest.raises(ValueError, match="samples: expected a mono"):
        extract_f0(np.zeros((2, 100)), 16000, "dio")
    with pytest.raises(ValueError, match="crepe_model"):
        extract_f0(x, 16000, "crepe", crepe_model="huge")


def test_pitch_node(speech):
    spec = default_registry()["analysis.pitch"]
    f0 = spec.call({"method": "praat", "hop_ms": 20}, audio=speech)["f0"]
    assert np.allclose(np.diff(f0.times), 0.02)
    assert 70 < f0.voiced_median() < 200
    with pytest.raises(ValidationError, match="fmin"):
        spec.params.model_validate({"fmin": 400, "fmax": 200})
    with pytest.raises(ValidationError, match="method"):
        spec.params.model_validate({"method": "yin"})


def test_plot_f0_draws_a_png(speech):
    import matplotlib.image

    f0 = extract_f0(speech.mono(), speech.sample_rate, "praat")
    for png in (plot_f0(f0, speech), plot_f0(f0)):
        image = matplotlib.image.imread(io.BytesIO(png), format="png")
        assert image.shape[:2] == (300, 800)
        assert image[..., :3].std() > 0.05  # not a blank canvas
