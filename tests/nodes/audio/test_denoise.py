"""audio.denoise: measured noise reduction, preserved tone, noise-region errors."""
from __future__ import annotations

import numpy as np
import pytest

from haysay.graph_engine.values import Audio

RATE = 16000


def noisy_tone() -> Audio:
    """White noise at -40 dBFS RMS throughout; a 500 Hz tone (-12 dBFS) from 0.5 s to 1.5 s."""
    rng = np.random.default_rng(5)
    x = rng.normal(0, 0.01, 2 * RATE)
    t = np.arange(RATE) / RATE
    x[RATE // 2:RATE // 2 + RATE] += 0.25 * np.sin(2 * np.pi * 500 * t)
    return Audio.from_mono(x.astype(np.float32), RATE)


def band_rms_db(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(x.size, 1 / RATE)
    band = (freqs > lo) & (freqs < hi)
    return 10 * np.log10(np.sum(np.abs(spec[band]) ** 2) / x.size ** 2 + 1e-20)


@pytest.mark.parametrize("params", [{"reduction_db": 24}, {"reduction_db": 24, "noise_start": 0.0, "noise_end": 0.4}])
def test_denoise_reduces_noise_keeps_tone(tools, params):
    x = noisy_tone()
    y = tools.call("audio.denoise", params, audio=x).numpy()[0]
    src = x.numpy()[0]
    assert y.size == src.size
    quiet = slice(int(1.7 * RATE), 2 * RATE - 400)
    assert tools.rms_db(y[quiet]) - tools.rms_db(src[quiet]) < -15
    tone = slice(int(0.7 * RATE), int(1.3 * RATE))
    assert abs(tools.level_at(y[tone], RATE, 500) - tools.level_at(src[tone], RATE, 500)) < 0.5
    # noise away from the tone is reduced while the tone plays, too
    assert band_rms_db(y[tone], 2000, 7000) - band_rms_db(src[tone], 2000, 7000) < -12


def test_denoise_improves_speech_snr(tools, speech):
    clean = speech.numpy()[0] * (0.3 / np.abs(speech.numpy()).max())
    noisy = clean + np.random.default_rng(6).normal(0, 0.01, clean.size).astype(np.float32)
    y = tools.call("audio.denoise", {}, audio=Audio.from_mono(noisy, speech.sample_rate)).numpy()[0]

    def snr_db(z):
        return 10 * np.log10(np.sum(clean ** 2) / np.sum((z - clean) ** 2))
    assert snr_db(y) - snr_db(noisy) > 4.0  # about 10 dB in, 16 dB out when measured


def test_denoise_noise_region_errors(tools):
    errs = tools.param_errors("audio.denoise", {"noise_start": 1.0})
    assert errs[0].field == "noise_end" and "both" in errs[0].message
    errs = tools.param_errors("audio.denoise", {"noise_start": 1.0, "noise_end": 0.5})
    assert errs[0].field == "noise_end" and "after noise_start" in errs[0].message
    with pytest.raises(ValueError, match=r"noise_start=5 s is past the end of the audio \(2.00 s\)"):
        tools.call("audio.denoise", {"noise_start": 5, "noise_end": 6}, audio=noisy_tone())


def speech_in_noise(speech, snr_db: float, kind: str):
    """The espeak sentence (0.3 peak) with 0.5 s of silence either side, plus white noise or mains hum at `snr_db`."""
    rate = speech.sample_rate
    clean = np.concatenate([np.zeros(rate // 2), speech.numpy()[0] * (0.3 / np.abs(speech.numpy()).max()),
                            np.zeros(rate // 2)]).astype(np.float32)
    rng = np.random.default_rng(11)
    t = np.arange(clean.size) / rate
    noise = rng.standard_normal(clean.size) if kind == "white" else \
        np.sin(2 * np.pi * 60 * t) + 0.5 * np.sin(2 * np.pi * 180 * t) + 0.2 * rng.standard_normal(clean.size)
    noise *= np.sqrt(np.mean(clean ** 2) / np.mean(noise ** 2)) * 10 ** (-snr_db / 20)
    return clean, (clean + noise).astype(np.float32), noise.astype(np.float32)


def snr_db(clean, z):
    return float(10 * np.log10(np.sum(clean ** 2) / np.sum((z - clean) ** 2)))


@pytest.mark.parametrize("kind", ["white", "hum"])
def test_gate_measures_at_least_as_well_as_noisereduce(tools, speech, kind):
    """Why the hand-written gate is the default: its SNR gain on speech in noise is the higher."""
    clean, noisy, _ = speech_in_noise(speech, 5.0, kind)
    x = Audio.from_mono(noisy, speech.sample_rate)
    gains = {m: snr_db(clean, tools.call("audio.denoise", {"method": m}, audio=x).numpy()[0]) - 5.0
             for m in ("gate", "noisereduce")}
    assert gains["gate"] > 5.0 and gains["gate"] >= gains["noisereduce"], gains


def test_noisereduce_method_reduces_noise(tools, speech):
    clean, noisy, _ = speech_in_noise(speech, 0.0, "white")
    x = Audio.from_mono(noisy, speech.sample_rate)
    y = tools.call("audio.denoise", {"method": "noisereduce"}, audio=x).numpy()[0]
    assert y.shape == noisy.shape and snr_db(clean, y) > 2.0
    # with the leading half second named as noise, it gates against that profile
    given = tools.call("audio.denoise", {"method": "noisereduce", "noise_start": 0.0, "noise_end": 0.45},
                       audio=x).numpy()[0]
    assert snr_db(clean, given) > 5.0
    lead = slice(0, speech.sample_rate // 2)
    assert tools.rms_db(given[lead]) < tools.rms_db(noisy[lead]) - 15  # the noise-only stretch is turned down
