"""audio.pitch_shift, audio.time_stretch, audio.speed: measured frequency and length (Praat tracks the f0)."""
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


def frame_cents(a: Audio, b: Audio) -> np.ndarray:
    """Per 10 ms frame, the pitch of b over a in cents, where Praat finds both voiced."""
    def track(x: Audio):
        return parselmouth.Sound(x.numpy()[0].astype(np.float64), x.sample_rate).to_pitch(
            time_step=0.01, pitch_floor=40, pitch_ceiling=600).selected_array["frequency"]
    fa, fb = track(a), track(b)
    n = min(len(fa), len(fb))
    both = (fa[:n] > 0) & (fb[:n] > 0)
    assert both.mean() > 0.3  # most of the speech stays voiced
    return 1200 * np.log2(fb[:n][both] / fa[:n][both])


@pytest.mark.parametrize("method", ["rubberband", "phase_vocoder"])
@pytest.mark.parametrize("semitones", [12, -12, 7, -5, 0.5])
def test_pitch_shift_sine_measured(tools, sine_audio, semitones, method):
    x = sine_audio(freq=220, seconds=1.0, channels=2)
    y = tools.call("audio.pitch_shift", {"semitones": semitones, "method": method, "preserve_formants": False}, audio=x)
    assert y.frames == x.frames and y.channels == 2
    for ch in y.numpy():
        assert tools.dominant_frequency(middle(ch, RATE), RATE) == pytest.approx(220 * 2 ** (semitones / 12), rel=0.005)
    # the level of a steady tone is kept
    assert tools.rms_db(middle(y.numpy()[0], RATE)) == pytest.approx(tools.rms_db(x.numpy()[0]), abs=0.5)


@pytest.mark.parametrize("semitones", [4, -5, 12, -12, 0.5])
@pytest.mark.parametrize("formants", [True, False])
def test_rubberband_moves_f0_by_the_asked_semitones_within_10_cents(tools, speech, semitones, formants):
    y = tools.call("audio.pitch_shift", {"semitones": semitones, "preserve_formants": formants}, audio=speech)
    assert y.frames == speech.frames
    assert float(np.median(frame_cents(speech, y))) == pytest.approx(100 * semitones, abs=10)


def test_preserve_formants_keeps_the_spectral_envelope(tools, speech):
    """An octave up with formants kept leaves the voice's spectral centroid near the source's;
    without, the whole spectrum moves up."""
    def centroid(a: Audio) -> float:
        spec = np.abs(np.fft.rfft(a.numpy()[0])) ** 2
        return float(np.sum(np.fft.rfftfreq(a.frames, 1 / a.sample_rate) * spec) / spec.sum())
    kept = tools.call("audio.pitch_shift", {"semitones": 12, "preserve_formants": True}, audio=speech)
    moved = tools.call("audio.pitch_shift", {"semitones": 12, "preserve_formants": False}, audio=speech)
    assert centroid(kept) / centroid(speech) < 1.3 < centroid(moved) / centroid(speech)


@pytest.mark.parametrize("method", ["phase_vocoder", "world"])
def test_pitch_shift_speech_f0(tools, speech, method):
    y = tools.call("audio.pitch_shift", {"semitones": 4, "method": method}, audio=speech)
    assert y.frames == speech.frames
    assert median_f0(y) / median_f0(speech) == pytest.approx(2 ** (4 / 12), rel=0.03)


@pytest.mark.parametrize("method", ["rubberband", "phase_vocoder"])
@pytest.mark.parametrize("rate", [2.0, 0.5, 1.25])
def test_time_stretch_length_and_pitch(tools, sine_audio, rate, method):
    x = sine_audio(freq=330, seconds=1.0)
    y = tools.call("audio.time_stretch", {"rate": rate, "method": method}, audio=x)
    assert y.frames == round(x.frames / rate)
    assert tools.dominant_frequency(middle(y.numpy()[0], RATE), RATE) == pytest.approx(330, rel=0.002)


@pytest.mark.parametrize("rate", [0.8, 1.5])
def test_time_stretch_speech_keeps_f0(tools, speech, rate):
    y = tools.call("audio.time_stretch", {"rate": rate}, audio=speech)
    assert y.duration == pytest.approx(speech.duration / rate, abs=1e-3)
    assert median_f0(y) == pytest.approx(median_f0(speech), rel=0.03)
    # the speech itself (not padding) is what changed length: its voiced stretch scales by 1/rate
    def voiced_span(a: Audio) -> float:
        f = parselmouth.Sound(a.numpy()[0].astype(np.float64), a.sample_rate).to_pitch(time_step=0.01)
        t = f.xs()[f.selected_array["frequency"] > 0]
        return float(t[-1] - t[0])
    assert voiced_span(y) / voiced_span(speech) == pytest.approx(1 / rate, rel=0.05)


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
    errs = tools.param_errors("audio.pitch_shift", {"semitones": 30, "method": "sox"})
    assert {e.field for e in errs} == {"semitones", "method"}
    assert any("between -24.0 and 24.0 st, got 30" in e.message for e in errs)
    assert tools.param_errors("audio.time_stretch", {"rate": 0})[0].field == "rate"
    assert tools.param_errors("audio.time_stretch", {"method": "world"})[0].field == "method"
    assert tools.param_errors("audio.pitch_shift", {"transient_mode": "soft"})[0].field == "transient_mode"
    assert tools.param_errors("audio.speed", {"factor": 5})[0].field == "factor"
