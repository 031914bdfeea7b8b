"""tts.piper: the bundled voice speaks with no download; rate, silence and bad voices are measured/checked."""
from __future__ import annotations

import json

import numpy as np
import pytest

from haysay.graph_engine.contract import default_registry
from haysay.nodes.analysis.f0 import extract_f0
from haysay.nodes.tts.piper import bundled_voice_path, resolve_voice, synthesize_piper

TWO_SENTENCES = "The quick brown fox jumps over the lazy dog. It was a sunny day."


def test_bundled_voice_speaks_plausibly():
    audio = synthesize_piper(TWO_SENTENCES)
    assert audio.sample_rate == 22050 and audio.channels == 1
    # thirteen words at a normal speaking rate: roughly 3-6 s
    assert 2.5 < audio.duration < 7.0
    mono = audio.mono()
    assert np.sqrt(np.mean(mono ** 2)) > 0.03
    f0 = extract_f0(mono, audio.sample_rate, "praat")
    assert 60 < f0.voiced_median() < 250 and np.mean(f0.hz > 0) > 0.3  # voiced speech, not noise


def test_length_scale_slows_speech():
    normal = synthesize_piper(TWO_SENTENCES, noise_w=0.0).duration
    slow = synthesize_piper(TWO_SENTENCES, length_scale=1.6, noise_w=0.0).duration
    assert slow / normal == pytest.approx(1.6, rel=0.15)


def test_sentence_silence_is_inserted_between_sentences():
    # noise_w=0 makes phoneme durations deterministic, so only the gap differs
    plain = synthesize_piper(TWO_SENTENCES, noise_w=0.0)
    gapped = synthesize_piper(TWO_SENTENCES, noise_w=0.0, sentence_silence=0.75)
    assert gapped.frames - plain.frames == round(0.75 * 22050)


def test_missing_voice_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"voice: no voice model at .*nope\.onnx"):
        synthesize_piper("hello", voice=str(tmp_path / "nope.onnx"))


def test_missing_config_beside_the_model_is_a_clear_error(tmp_path):
    lonely = tmp_path / "lonely.onnx"
    lonely.symlink_to(bundled_voice_path())
    with pytest.raises(ValueError, match=r"voice: the voice config 'lonely\.onnx\.json' is missing"):
        resolve_voice(str(lonely))


def test_corrupt_voice_files_are_clear_errors(tmp_path):
    model = tmp_path / "broken.onnx"
    model.write_bytes(b"not an onnx model at all")
    (tmp_path / "broken.onnx.json").write_text("{ not json")
    with pytest.raises(ValueError, match=r"voice: cannot read voice config 'broken\.onnx\.json'"):
        synthesize_piper("hello", voice=str(model))
    config = json.loads(bundled_voice_path().with_suffix(".onnx.json").read_text())
    (tmp_path / "broken.onnx.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"voice: cannot load 'broken\.onnx' as an ONNX voice model"):
        synthesize_piper("hello", voice=str(model))


def test_bad_speaker_ids_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"speaker: this voice has a single speaker.*got 3"):
        synthesize_piper("hello", speaker=3)
    # a three-speaker config around the bundled weights: the id is checked before the model runs
    model = tmp_path / "trio.onnx"
    model.symlink_to(bundled_voice_path())
    config = json.loads(bundled_voice_path().with_suffix(".onnx.json").read_text())
    config.update(num_speakers=3, speaker_id_map={"ann": 0, "bob": 1, "cy": 2})
    (tmp_path / "trio.onnx.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"speaker: 7 is out of range; this voice has speakers 0\.\.2 \(0=ann, 1=bob"):
        synthesize_piper("hello", voice=str(model), speaker=7)


def test_node_reports_warm_model_and_returns_audio():
    from haysay.graph_engine.contract import NodeContext

    spec = default_registry()["tts.piper"]
    assert "voice" in spec.file_fields()
    synthesize_piper("Warm up.")
    ctx = NodeContext()
    out = spec.call({"length_scale": 0.8}, ctx=ctx, text="Hello from haysay.")["audio"]
    assert out.sample_rate == 22050 and 0.5 < out.duration < 3.0
    assert ctx.info["model_warm"] is True
