"""tts.espeak: real speech from the bundled eSpeak NG, with measured rate and pitch effects."""
from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from haysay.graph_engine.contract import default_registry
from haysay.nodes.analysis.f0 import extract_f0
from haysay.nodes.tts.espeak import espeak_variants, espeak_voices, synthesize_espeak

SENTENCE = "The quick brown fox jumps over the lazy dog."


def rms(audio) -> float:
    return float(np.sqrt(np.mean(audio.mono() ** 2)))


def test_speech_has_plausible_length_level_and_rate():
    audio = synthesize_espeak(SENTENCE)
    assert audio.sample_rate == 22050 and audio.channels == 1
    # nine words at 175 wpm is about 3 s
    assert 1.8 < audio.duration < 5.0
    assert rms(audio) > 0.02
    assert np.max(np.abs(audio.mono())) <= 1.0


def test_rate_changes_duration():
    slow = synthesize_espeak(SENTENCE, rate=100).duration
    fast = synthesize_espeak(SENTENCE, rate=350).duration
    assert fast < 0.55 * slow


def test_pitch_param_moves_measured_f0():
    low = synthesize_espeak(SENTENCE, pitch=10)
    high = synthesize_espeak(SENTENCE, pitch=90)
    f_low = extract_f0(low.mono(), low.sample_rate, "praat").voiced_median()
    f_high = extract_f0(high.mono(), high.sample_rate, "praat").voiced_median()
    assert 60 < f_low < f_high / 1.3


def test_volume_scales_level():
    loud, soft = synthesize_espeak(SENTENCE, volume=100), synthesize_espeak(SENTENCE, volume=25)
    assert rms(soft) < 0.5 * rms(loud)


def test_other_language_and_variant():
    assert "de" in espeak_voices() and "en-us" in espeak_voices()
    assert len(espeak_variants()) > 10
    german = synthesize_espeak("Guten Tag, wie geht es Ihnen?", voice="de")
    female = synthesize_espeak(SENTENCE, voice="en-us+f3")
    assert german.duration > 1.0 and rms(german) > 0.02
    f_female = extract_f0(female.mono(), female.sample_rate, "praat").voiced_median()
    f_male = extract_f0(*_mono(synthesize_espeak(SENTENCE)), "praat").voiced_median()
    assert f_female > 1.4 * f_male


def _mono(audio):
    return audio.mono(), audio.sample_rate


def test_unknown_voice_is_a_clear_error():
    with pytest.raises(ValueError, match=r"voice: .*'xx-nothing'"):
        synthesize_espeak("hello", voice="xx-nothing")


def test_empty_text_is_a_clear_error():
    with pytest.raises(ValueError, match="text: nothing to say"):
        synthesize_espeak("   ")


def test_node_wraps_the_function_and_validates_params():
    spec = default_registry()["tts.espeak"]
    out = spec.call({"rate": 300, "pitch": 70}, text="Hello there, general Kenobi.")["audio"]
    assert out.sample_rate == 22050 and 0.5 < out.duration < 3.0 and rms(out) > 0.02
    with pytest.raises(ValidationError, match="pitch"):
        spec.params.model_validate({"pitch": 150})
    with pytest.raises(ValidationError, match="rate"):
        spec.params.model_validate({"rate": 10})


def test_the_same_text_renders_the_same_whatever_was_spoken_before():
    """libespeak-ng keeps its wavegen state (pitch flutter, wave phase) in C statics; before each call
    loaded the library afresh, the same sentence came out a few samples longer or shorter and with
    other jitter on every call. A fresh interpreter's first rendition is the reference."""
    import subprocess
    import sys

    first = synthesize_espeak(SENTENCE).mono()
    for words in ("Hello.", "Something else entirely, with a comma", "Bonjour"):
        synthesize_espeak(words, voice="fr" if words == "Bonjour" else "en-us")
    again = synthesize_espeak(SENTENCE).mono()
    assert np.array_equal(first, again)
    code = ("import sys, numpy as np; from haysay.nodes.tts.espeak import synthesize_espeak; "
            f"sys.stdout.buffer.write(synthesize_espeak({SENTENCE!r}).mono().tobytes())")
    fresh = np.frombuffer(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                                         timeout=120).stdout, np.float32)
    assert np.array_equal(first, fresh)
