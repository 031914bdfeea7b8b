"""audio.pitch_shift, audio.time_stretch, audio.speed: measured frequency and length."""
from __future__ import annotations

import numpy as np
import parselmouth
import pytest

from haysay.graph_engine.values import Audio
from haysay.nodes.audio.phase_vocoder import frame_size, istft, stft

RATE = 48000


def median_f0(audio: Audio) -> float:
    pitch = parselmouth.Sound(audio.numpy()[0].astype(np.float64), audio.sample_rate).to_pitch()
    f0 = pitch.selected_array["frequency"]
    return float(np.median(f0[f0 > 0]))


def middle(x: np.ndarray, rate: int) -> np.ndarray:
    return x[int(0.1 * rate):-int(0.1 * rate)]


@pytest.mark.parametrize("semitones", [12, -12, 7, -5, 0.5])
def test_pitch_shift_sine_measured(tools, sine_audio, semitones):
    x = sine_audio(freq=220, seconds=1.0, channels=2)
    y = tools.call("audio.pitch_shift", {"semitones": semitones}, audio=x)
    assert y.frames == x.frames and y.channels == 2
    for ch in y.numpy():
        assert tools.dominant_frequency(middle(ch, RATE), RATE) == pytest.approx(220 * 2 ** (semitones / 12), rel=0.005)
    # the level of a steady tone is kept
    assert tools.rms_db(middle(y.numpy()[0], RATE)) == pytest.approx(tools.rms_db(x.numpy()[0]), abs=0.5)


@pytest.mark.parametrize("method", ["phase_vocoder", "world"])
def test_pitch_shift_speech_f0(tools, speech, method):
    y = tools.call("audio.pitch_shift", {"semitones": 4, "method": method}, audio=speech)
    assert y.frames == speech.frames
    assert median_f0(y) / median_f0(speech) == pytest.approx(2 ** (4 / 12), rel=0.03)


@pytest.mark.parametrize("rate", [2.0, 0.5, 1.25])
def test_time_stretch_length_and_pitch(tools, sine_audio, rate):
    x = sine_audio(freq=330, seconds=1.0)
    y = tools.call("audio.time_stretch", {"rate": rate}, audio=x)
    assert y.frames == round(x.frames / rate)
    assert tools.dominant_frequency(middle(y.numpy()[0], RATE), RATE) == pytest.approx(330, rel=0.002)


def test_time_stretch_speech_keeps_f0(tools, speech):
    y = tools.call("audio.time_stretch", {"rate": 0.8}, audio=speech)
    assert y.duration == pytest.approx(speech.duration / 0.8, abs=1e-3)
    assert median_f0(y) == pytest.approx(median_f0(speech), rel=0.03)


def test_speed_changes_length_and_pitch_together(tools, sine_audio):
    x = sine_audio(freq=300, seconds=1.0)
    y = tools.call("audio.speed", {"factor": 1.5}, audio=x)
    assert y.sample_rate == RATE
    assert y.frames == pytest.approx(RATE / 1.5, abs=2)
    assert tools.dominant_frequency(middle(y.numpy()[0], RATE), RATE) == pytest.approx(450, rel=0.002)


def test_speed_blockwise_equals_whole(tools, sine_audio):
    x = sine_audio(freq=300, seconds=0.5, channels=2)
    whole = tools.call("audio.speed", {"factor": 0.8}, audio=x).numpy()
    streamed = tools.stream_in_blocks("audio.speed", {"factor": 0.8}, 1500, audio=x).numpy()
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-5)


def test_stft_round_trip_is_exact():
    x = np.random.default_rng(7).uniform(-1, 1, 12345)
    n = frame_size(22050)
    np.testing.assert_allclose(istft(stft(x, n), n, x.size), x, atol=1e-10)


def test_pitch_time_param_errors(tools):
    errs = tools.param_errors("audio.pitch_shift", {"semitones": 30, "method": "rubberband"})
    assert {e.field for e in errs} == {"semitones", "method"}
    assert any("between -24.0 and 24.0 st, got 30" in e.message for e in errs)
    assert tools.param_errors("audio.time_stretch", {"rate": 0})[0].field == "rate"
    assert tools.param_errors("audio.speed", {"factor": 5})[0].field == "factor"
