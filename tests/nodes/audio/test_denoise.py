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
