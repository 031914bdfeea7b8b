"""audio.peak_normalize and audio.loudness_normalize: measured peak and LUFS, ceilings, clear errors."""
from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest

from haysay.graph_engine.values import Audio
from haysay.nodes.audio.levels import true_peak


def lufs(audio: Audio) -> float:
    return pyloudnorm.Meter(audio.sample_rate).integrated_loudness(audio.numpy().T.astype(np.float64))


def test_peak_normalize_sets_measured_peak(tools, sine_audio):
    out = tools.call("audio.peak_normalize", {"peak_db": -3.0}, audio=sine_audio(amp=0.1, channels=2))
    assert 20 * np.log10(np.abs(out.numpy()).max()) == pytest.approx(-3.0, abs=0.01)
    assert out.frames == 48000 and out.channels == 2


def test_peak_normalize_leaves_silence_alone(tools):
    silent = Audio(np.zeros((1, 1000), np.float32), 16000)
    assert not tools.call("audio.peak_normalize", {}, audio=silent).numpy().any()


@pytest.mark.parametrize("target", [-23.0, -16.0, -30.0])
def test_loudness_normalize_reaches_target(tools, speech, target):
    out = tools.call("audio.loudness_normalize", {"target_lufs": target, "peak_ceiling_db": None}, audio=speech)
    assert lufs(out) == pytest.approx(target, abs=0.5)
    assert out.frames == speech.frames


def test_loudness_ceiling_wins_over_target(tools, sine_audio):
    # a 1 kHz sine at -5 LUFS would peak near +2 dBFS: the -6 dBTP ceiling must hold it back
    out = tools.call("audio.loudness_normalize", {"target_lufs": -5.0, "peak_ceiling_db": -6.0, "true_peak": True},
                     audio=sine_audio(freq=997, amp=0.1))
    peak_db = 20 * np.log10(true_peak(out.numpy(), out.sample_rate))
    assert peak_db == pytest.approx(-6.0, abs=0.05)
    assert lufs(out) == pytest.approx(-6.0 - 3.01, abs=0.2)  # a sine's LUFS is its peak minus 3 dB


def test_loudness_too_short_and_silent_are_clear(tools, sine_audio):
    with pytest.raises(ValueError, match=r"audio is 0.250 s long; BS.1770 loudness needs at least 0.4 s"):
        tools.call("audio.loudness_normalize", {}, audio=sine_audio(seconds=0.25))
    with pytest.raises(ValueError, match="silent"):
        tools.call("audio.loudness_normalize", {}, audio=Audio(np.zeros((1, 48000), np.float32), 48000))


def test_level_param_ranges(tools):
    errs = tools.param_errors("audio.loudness_normalize", {"target_lufs": 3})
    assert errs[0].field == "target_lufs" and "LUFS" in errs[0].message
    errs = tools.param_errors("audio.peak_normalize", {"peak_db": 1.5})
    assert errs[0].field == "peak_db" and errs[0].message == "must be between -60.0 and 0.0 dBFS, got 1.5"
