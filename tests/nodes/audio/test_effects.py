"""pedalboard effects: each effect measured on tones, clicks and speech; streamed == whole; bad params located."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from haysay.graph_engine import parse_pipeline, plan
from haysay.graph_engine.values import Audio

RATE = 48000
EFFECTS = [("audio.reverb", {"room_size": 0.8}), ("audio.compressor", {"threshold_db": -30, "ratio": 6}),
           ("audio.limiter", {"threshold_db": -12, "ceiling_db": -1}), ("audio.chorus", {}),
           ("audio.delay", {"delay_seconds": 0.05, "feedback": 0.4}), ("audio.distortion", {}),
           ("audio.high_shelf", {"gain_db": 6}), ("audio.low_shelf", {"gain_db": -6, "cutoff_frequency_hz": 200})]


def tone(freq, seconds=1.0, amp=0.5, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def click(seconds=2.0, at=0.1):
    x = np.zeros(int(seconds * RATE), np.float32)
    x[int(at * RATE)] = 1.0
    return x


def schroeder_rt60(y: np.ndarray, rate: int) -> float:
    """Reverberation time from the T20 slope (-5 to -25 dB) of Schroeder's backward-integrated energy decay."""
    energy = np.cumsum((y.astype(np.float64) ** 2)[::-1])[::-1]
    edc = 10 * np.log10(energy / energy[0] + 1e-30)
    start, end = np.argmax(edc <= -5), np.argmax(edc <= -25)
    t = np.arange(start, end) / rate
    slope = np.polyfit(t, edc[start:end], 1)[0]  # dB per second
    return -60.0 / slope


def crest_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.abs(x).max() / np.sqrt(np.mean(x.astype(np.float64) ** 2))))


@pytest.mark.parametrize("type_id,params", EFFECTS)
def test_streamed_equals_whole(tools, speech, type_id, params):
    stereo = Audio(np.stack([speech.mono(), 0.5 * speech.mono()])[:, :30001], speech.sample_rate)
    whole = tools.call(type_id, params, audio=stereo).numpy()
    streamed = tools.stream_in_blocks(type_id, params, 4000, audio=stereo).numpy()  # last block: one frame
    assert whole.shape == streamed.shape == (2, 30001)
    np.testing.assert_allclose(streamed, whole, atol=1e-6)
    assert not np.allclose(whole, stereo.numpy(), atol=1e-3)  # every effect here changes the sound


def test_reverb_lengthens_decay(tools):
    x = Audio.from_mono(click(), RATE)
    rts = {size: schroeder_rt60(tools.call("audio.reverb", {"room_size": size, "dry_level": 0.0}, audio=x).mono()[
        int(0.1 * RATE):], RATE) for size in (0.3, 0.9)}
    assert 0.1 < rts[0.3] and rts[0.9] > 2 * rts[0.3], rts
    dry = tools.call("audio.reverb", {"wet_level": 0.0, "dry_level": 1.0}, audio=x).mono()
    assert np.sum(dry[int(0.11 * RATE):] ** 2) < 1e-6  # no tail without the wet signal


def test_compressor_levels_and_crest_factor(tools, speech):
    # a tone stepping from -40 dB to -10 dB: above the -30 dB threshold, 6:1 leaves (-10 - -30) / 6 over it
    x = np.concatenate([tone(1000, 0.5, 10 ** (-40 / 20)), tone(1000, 1.0, 10 ** (-10 / 20))])
    y = tools.call("audio.compressor", {"threshold_db": -30, "ratio": 6, "attack_ms": 2, "release_ms": 50},
                   audio=Audio.from_mono(x, RATE)).mono()
    quiet, loud = y[int(0.1 * RATE):int(0.45 * RATE)], y[int(0.9 * RATE):]
    assert tools.level_at(quiet, RATE, 1000) == pytest.approx(-40, abs=0.5)  # under the threshold: untouched
    assert tools.level_at(loud, RATE, 1000) == pytest.approx(-30 + 20 / 6, abs=1.0)
    squeezed = tools.call("audio.compressor", {"threshold_db": -35, "ratio": 8, "attack_ms": 0.5}, audio=speech).mono()
    assert crest_db(squeezed) < crest_db(speech.mono()) - 3


def test_limiter_keeps_peaks_under_the_ceiling(tools, speech):
    hot = Audio.from_mono(speech.mono() / np.abs(speech.mono()).max() * 2.5, speech.sample_rate)  # +8 dBFS peaks
    for ceiling in (0.0, -3.0):
        y = tools.call("audio.limiter", {"threshold_db": -6, "ceiling_db": ceiling}, audio=hot).mono()
        assert np.abs(y).max() <= 10 ** (ceiling / 20) * (1 + 1e-6)
        assert tools.rms_db(y) > tools.rms_db(hot.mono()) - 12 + ceiling  # limited, not silenced


@pytest.mark.parametrize("kind,gain_db", [("low", 6.0), ("low", -9.0), ("high", 6.0), ("high", -12.0)])
def test_shelves_change_band_energy_by_the_gain(tools, kind, gain_db):
    # a low tone and a high tone, two octaves and more either side of a 1 kHz corner
    x = tone(100, 1.0, 0.2) + tone(10000, 1.0, 0.2)
    y = tools.call(f"audio.{kind}_shelf", {"cutoff_frequency_hz": 1000, "gain_db": gain_db},
                   audio=Audio.from_mono(x, RATE)).mono()[int(0.1 * RATE):]
    shelf, other = (100, 10000) if kind == "low" else (10000, 100)
    ref = 20 * np.log10(0.2)
    assert tools.level_at(y, RATE, shelf) == pytest.approx(ref + gain_db, abs=1.0)
    assert tools.level_at(y, RATE, other) == pytest.approx(ref, abs=1.0)


def test_delay_echo_at_the_asked_lag(tools, speech):
    lag_s = 0.12
    y = tools.call("audio.delay", {"delay_seconds": lag_s, "mix": 0.5}, audio=speech).mono()
    x = speech.mono()
    xc = signal.correlate(y, x, mode="full", method="fft")[len(x) - 1:]  # lags >= 0
    echo = int(np.argmax(xc[int(0.02 * speech.sample_rate):])) + int(0.02 * speech.sample_rate)
    assert echo == pytest.approx(lag_s * speech.sample_rate, abs=2)
    assert xc[echo] > 0.3 * xc[0]


def test_chorus_and_distortion_change_the_spectrum(tools):
    x = Audio.from_mono(tone(1000, 1.0, 0.3), RATE)

    def outside(y, freq):  # energy (dB re total) farther than 20 Hz from the tone
        spec = np.abs(np.fft.rfft(y[int(0.2 * RATE):] * np.hanning(len(y) - int(0.2 * RATE)))) ** 2
        f = np.fft.rfftfreq(len(y) - int(0.2 * RATE), 1 / RATE)
        return 10 * np.log10(spec[np.abs(f - freq) > 20].sum() / spec.sum())

    assert outside(x.mono(), 1000) < -60
    chorus = tools.call("audio.chorus", {"depth": 0.5, "rate_hz": 2}, audio=x).mono()
    assert outside(chorus, 1000) > -40  # the moving delay smears the tone over neighbouring frequencies
    dist = tools.call("audio.distortion", {"drive_db": 20}, audio=x).mono()
    third = tools.level_at(dist[int(0.2 * RATE):], RATE, 3000) - tools.level_at(dist[int(0.2 * RATE):], RATE, 1000)
    assert third > -20  # tanh adds odd harmonics
    assert tools.level_at(x.mono(), RATE, 3000) < -100


def test_bad_params_are_located(tools):
    assert tools.param_errors("audio.compressor", {"ratio": 0.5})[0].field == "ratio"
    assert tools.param_errors("audio.delay", {"delay_seconds": 31})[0].field == "delay_seconds"
    assert tools.param_errors("audio.chorus", {"rate_hz": 100})[0].field == "rate_hz"
    assert tools.param_errors("audio.reverb", {"room": 1})[0].field == "room"
    doc = parse_pipeline({"format": "haysay.pipeline/1",
                          "nodes": [{"id": "t", "type": "gen.tone", "params": {"sample_rate": 16000}},
                                    {"id": "s", "type": "audio.high_shelf", "params": {"cutoff_frequency_hz": 9000}}],
                          "edges": [{"from": "t.audio", "to": "s.audio"}], "outputs": {}})
    (e,) = plan(doc).errors
    assert (e.code, e.node, e.field) == ("invalid_input", "s", "cutoff_frequency_hz")
    assert "below the Nyquist frequency 8000 Hz" in e.message
