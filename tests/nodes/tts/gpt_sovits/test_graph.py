"""tts.gpt_sovits in a graph: an installed voice by name, espeak-ng speech as the reference, errors located
at validation."""
from __future__ import annotations

import numpy as np

from haysay.graph_engine import Engine, Settings, parse_pipeline
from haysay.graph_engine.audiofile import write_audio
from haysay.nodes.tts.espeak import synthesize_espeak

PROMPT = "This is my voice, speaking clearly for a few seconds so that it can be copied."


def pipeline(**params):
    return parse_pipeline({
        "format": "haysay.pipeline/1", "name": "gpt_sovits",
        "nodes": [{"id": "speak", "type": "tts.gpt_sovits",
                   "params": {"model": "tiny", "content_encoder": "cnhubert", "prompt_text": PROMPT, **params}}],
        "edges": [], "inputs": {"text": {"bind": "speak.text"}, "reference": {"bind": "speak.reference"}},
        "outputs": {"speech": "speak.audio"}})


def test_installed_voice_runs_with_speech_reference(haysay_home, gs_files, gs_hubert, gs_bert, tmp_path,
                                                   monkeypatch):
    import shutil

    from haysay.graph_engine.models import ModelStore

    voice = tmp_path / "voice"
    voice.mkdir()
    shutil.copy(gs_files[0], voice / "tiny-e15.ckpt")
    shutil.copy(gs_files[1], voice / "tiny_e8_s200.pth")
    store = ModelStore.from_env()
    store.install(str(voice), name="tiny")
    store.install(str(gs_hubert), name="cnhubert", architecture="content_encoder")
    speech = synthesize_espeak(PROMPT)
    assert 3.0 < speech.frames / speech.sample_rate < 10.0
    ref = tmp_path / "ref.wav"
    write_audio(ref, speech, "wav")
    engine = Engine(Settings.from_env())
    inputs = {"text": "Hello there, how are you today?", "reference": str(ref)}
    assert engine.validate(pipeline(), inputs) == []
    result = engine.run(pipeline(), inputs=inputs)
    assert result.ok, result.error
    out = result.outputs["speech"]
    assert out.sample_rate == 32000 and float(np.sqrt(np.mean(out.mono() ** 2))) > 0.01
    monkeypatch.setattr("haysay.nodes.tts.gpt_sovits.ja.find_spec", lambda name: None)  # Japanese without pyopenjtalk
    errors = engine.validate(pipeline(text_language="ja"), inputs)
    assert [(e.node, e.field) for e in errors] == [("speak", "text_language")]
    assert "pyopenjtalk" in errors[0].message
    errors = engine.validate(pipeline(text_language="zh"), inputs)  # Chinese without its BERT
    assert [(e.node, e.field) for e in errors] == [("speak", "bert_model")]
    assert engine.validate(pipeline(text_language="zh", bert_model=str(gs_bert)), inputs) == []
