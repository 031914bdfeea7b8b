"""tts.coqui on model folders written by Coqui's own code: `TTS.tts.models.vits.Vits` built from a
`VitsConfig`, saved by the Coqui trainer's `trainer.io.save_model` (what training writes as
model.pth / checkpoint_N.pth), its config by `VitsConfig.save_json`, its speakers by
`SpeakerManager.save_ids_to_file` — then moved away from the folder it was trained in, as a
downloaded model is (the VITS writer and its fixtures are in conftest.py, shared with the
conformance suite). Phonemes are judged against the expectations in Coqui's own test suite."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("TTS", reason="coqui-tts is not installed (pip install 'haysay[coqui]')")

from haysay.graph_engine import Engine, parse_pipeline  # noqa: E402
from haysay.nodes.tts.coqui.engine import find_files, load_synthesizer, synthesize  # noqa: E402
from haysay.nodes.tts.coqui.phonemes import install_library_espeak  # noqa: E402

TEXT = "Hello world. This is a test of the voice."

# tests/tts_tests/test_phonemizer.py of idiap/coqui-ai-TTS: EXPECTED_ESPEAKNG_PHONEMES
COQUI_EXPECTED = [
    ("Recent research at Harvard has shown meditating",
     "ɹ|ˈiː|s|ə|n|t ɹ|ᵻ|s|ˈɜː|tʃ æ|t h|ˈɑːɹ|v|ɚ|d h|ɐ|z ʃ|ˈoʊ|n m|ˈɛ|d|ᵻ|t|ˌeɪ|ɾ|ɪ|ŋ"),
    ("for as little as 8 weeks can actually increase, the grey matter",
     "f|ɔː|ɹ æ|z l|ˈɪ|ɾ|əl æ|z ˈeɪ|t w|ˈiː|k|s k|æ|n ˈæ|k|tʃ|uː|əl|i| ˈɪ|ŋ|k|ɹ|iː|s, ð|ə ɡ|ɹ|ˈeɪ m|ˈæ|ɾ|ɚ"),
    ("in the parts of the brain responsible",
     "ɪ|n|ð|ə p|ˈɑːɹ|t|s ʌ|v|ð|ə b|ɹ|ˈeɪ|n ɹ|ᵻ|s|p|ˈɑː|n|s|ᵻ|b|əl"),
    ("for emotional regulation and learning!",
     "f|ɔː|ɹ ɪ|m|ˈoʊ|ʃ|ə|n|əl ɹ|ˌɛ|ɡ|j|ʊ|l|ˈeɪ|ʃ|ə|n|| æ|n|d l|ˈɜː|n|ɪ|ŋ!"),
]


def _speak(folder, tmp_path, **kw):
    files = find_files(folder)
    synth = load_synthesizer(files, "cpu", tmp_path / "cache")
    return synthesize(synth, files, kw.pop("text", TEXT), **kw), synth.output_sample_rate


def test_phonemes_from_the_shipped_library_are_coquis_espeak_ng_phonemes():
    install_library_espeak()
    from TTS.tts.utils.text.phonemizers import get_phonemizer_by_name

    phonemizer = get_phonemizer_by_name("espeak", language="en-us")
    for text, expected in COQUI_EXPECTED:
        assert phonemizer.phonemize(text) == expected
    assert phonemizer.phonemize("Be a voice, not an! echo", separator="").startswith("biː ɐ vˈɔɪs, n")


def test_vits_speaks_exactly_as_coquis_own_api(coqui_vits, tmp_path):
    import torch
    from TTS.api import TTS

    ours, rate = _speak(coqui_vits, tmp_path, seed=7)
    api = TTS(model_path=str(coqui_vits / "model.pth"), config_path=str(coqui_vits / "config.json"),
              progress_bar=False)
    torch.manual_seed(7)
    theirs = np.asarray(api.tts(TEXT), dtype=np.float32)
    assert rate == 22050
    assert ours.shape == theirs.shape and np.array_equal(ours, theirs)
    assert np.sqrt(np.mean(ours ** 2)) > 1e-4  # a random-weight voice, but not silence


def test_seed_repeats_and_speed_shortens(coqui_vits, tmp_path):
    a, _ = _speak(coqui_vits, tmp_path, seed=1)
    b, _ = _speak(coqui_vits, tmp_path, seed=1)
    c, _ = _speak(coqui_vits, tmp_path, seed=2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    slow, _ = _speak(coqui_vits, tmp_path, seed=1, speed=0.5, split_sentences=False)
    fast, _ = _speak(coqui_vits, tmp_path, seed=1, speed=2.0, split_sentences=False)
    assert 3.0 < len(slow) / len(fast) < 5.5  # durations scale by length_scale / speed


def test_speakers_of_a_moved_model_are_found_and_differ(coqui_multi, tmp_path):
    alice, _ = _speak(coqui_multi, tmp_path, speaker="alice", seed=0)
    bob, _ = _speak(coqui_multi, tmp_path, speaker="bob", seed=0)
    n = min(len(alice), len(bob))
    assert n > 0 and not np.allclose(alice[:n], bob[:n])
    with pytest.raises(ValueError, match=r"speaker: 'carol' is not a speaker of this model \(alice, bob\)"):
        _speak(coqui_multi, tmp_path, speaker="carol")
    assert "/run-7/" in (coqui_multi / "config.json").read_text()  # the model's own config is left as it was


def _doc(params, text=TEXT):
    return parse_pipeline({"format": "haysay.pipeline/1", "name": "coqui",
                           "nodes": [{"id": "t", "type": "text.value", "params": {"text": text}},
                                     {"id": "c", "type": "tts.coqui", "params": params}],
                           "edges": [{"from": "t.text", "to": "c.text"}], "outputs": {"audio": "c.audio"}})


def test_validation_names_the_field(coqui_vits, tmp_path, haysay_home):
    eng = Engine()
    try:
        not_coqui = tmp_path / "notcoqui"
        not_coqui.mkdir()
        (not_coqui / "config.json").write_text('{"model": "glow_tts", "audio": {}}')
        cases = {"model": {"model": str(not_coqui)},
                 "temperature": {"model": str(coqui_vits), "temperature": 0.7}}
        for field, params in cases.items():
            (err,) = eng.plan(_doc(params)).errors
            assert (err.node, err.field) == ("c", field)
        assert "tts.coqui runs vits, xtts" in eng.plan(_doc(cases["model"])).errors[0].message
        doc = _doc({"model": str(coqui_vits), "seed": 4})
        assert eng.plan(doc).ok
        first = eng.run(doc)
        again = eng.run(doc)
        assert first.stages["c"].status == "done" and again.stages["c"].status == "cached"
        audio = again.outputs["audio"]
        assert audio.sample_rate == 22050 and audio.duration > 0.5
    finally:
        eng.close()


def test_installed_by_the_model_manager_and_run_by_name(coqui_multi, tmp_path, haysay_home):
    from haysay.graph_engine.models import ModelStore

    model = ModelStore.from_env().install(str(coqui_multi), name="Duet")
    assert (model.architecture, model.version) == ("coqui", "vits")
    roles = {f.path: f.role for f in model.files}
    assert roles["model.pth"] == "weights" and roles["speakers.pth"] == "speakers"
    by_name, _ = _speak(model.path, tmp_path, speaker="bob", seed=5)
    by_folder, _ = _speak(coqui_multi, tmp_path, speaker="bob", seed=5)
    assert np.array_equal(by_name, by_folder)
    from haysay.graph_engine.doctor import run_doctor

    (status,) = [c for c in run_doctor().components if c.name == "tts.coqui"]
    assert status.ready and "1 coqui installed" in status.models
    eng = Engine()
    try:
        assert eng.plan(_doc({"model": "Duet", "speaker": "alice"})).ok
    finally:
        eng.close()


# -- XTTS v2 ------------------------------------------------------------------------------------------
def _write_xtts(folder):
    """A small XTTS (one GPT layer of 64 channels; the HiFi-GAN decoder and speaker encoder at their
    fixed released sizes) built by Coqui's `Xtts`, saved by the Coqui trainer's `save_model`, its
    config by `XttsConfig.save_json`; vocab.json is a `tokenizers` BPE with XTTS's special tokens."""
    import string

    import torch
    from tokenizers import Tokenizer
    from tokenizers.models import BPE
    from trainer.io import save_model
    from TTS.tts.configs.xtts_config import XttsArgs, XttsConfig
    from TTS.tts.models.xtts import Xtts

    folder.mkdir(parents=True)
    special = ["[STOP]", "[UNK]", "[SPACE]", "[START]", "[en]", "[es]"]
    vocab = {t: i for i, t in enumerate(special + list(string.ascii_lowercase + string.digits + ".,!?'-"))}
    tokenizer = Tokenizer(BPE(vocab=vocab, merges=[], unk_token="[UNK]"))
    tokenizer.add_special_tokens(special)
    tokenizer.save(str(folder / "vocab.json"))
    args = XttsArgs(gpt_layers=1, gpt_n_model_channels=64, gpt_n_heads=2, gpt_number_text_tokens=len(vocab),
                    gpt_start_text_token=vocab["[START]"], gpt_stop_text_token=vocab["[STOP]"],
                    gpt_num_audio_tokens=34, gpt_start_audio_token=32, gpt_stop_audio_token=33,
                    gpt_max_audio_tokens=60, gpt_max_text_tokens=100, gpt_max_prompt_tokens=20,
                    decoder_input_dim=64, tokenizer_file=str(folder / "vocab.json"))
    config = XttsConfig(model_args=args, languages=["en", "es"])
    torch.manual_seed(11)
    model = Xtts(config)
    model.init_models()
    save_model(config, model, folder / "model.pth", current_step=1, epoch=1)
    config.save_json(str(folder / "config.json"))


@pytest.fixture(scope="module")
def xtts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("xtts") / "XTTS-v2"
    _write_xtts(folder)
    return folder


def _voice(freq, rate=22050, seconds=3.0):
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32), rate


def test_xtts_clones_from_reference_audio_as_coquis_own_api(xtts, tmp_path):
    import soundfile as sf
    import torch
    from TTS.api import TTS

    files = find_files(xtts)
    synth = load_synthesizer(files, "cpu", tmp_path / "cache")
    low = synthesize(synth, files, "Hello world.", reference=_voice(150), seed=3, language="en")
    again = synthesize(synth, files, "Hello world.", reference=_voice(150), seed=3, language="en")
    high = synthesize(synth, files, "Hello world.", reference=_voice(600), seed=3, language="en")
    assert synth.output_sample_rate == 24000 and low.size > 0
    assert np.array_equal(low, again)
    n = min(low.size, high.size)
    assert not np.allclose(low[:n], high[:n])  # the reference's voice conditions the output
    ref = tmp_path / "ref.wav"
    sf.write(ref, *_voice(150), subtype="FLOAT")
    api = TTS(model_path=str(xtts), config_path=str(xtts / "config.json"), progress_bar=False)
    torch.manual_seed(3)
    theirs = np.asarray(api.tts("Hello world.", speaker_wav=str(ref), language="en"), dtype=np.float32)
    assert np.array_equal(low, theirs)
    with pytest.raises(ValueError, match="speaker: XTTS needs reference audio"):
        synthesize(synth, files, "Hello world.", seed=3)
    with pytest.raises(ValueError, match=r"language: 'fr' is not one of the model's languages \(en, es\)"):
        synthesize(synth, files, "Bonjour.", reference=_voice(150), language="fr")


def test_xtts_runs_in_a_graph_with_a_wired_reference(xtts, haysay_home):
    doc = parse_pipeline({"format": "haysay.pipeline/1", "name": "clone",
                          "nodes": [{"id": "t", "type": "text.value", "params": {"text": "Hello there."}},
                                    {"id": "ref", "type": "gen.tone", "params": {"duration": 3.0, "frequency": 220.0}},
                                    {"id": "c", "type": "tts.coqui", "params": {"model": str(xtts), "seed": 2}}],
                          "edges": [{"from": "t.text", "to": "c.text"}, {"from": "ref.audio", "to": "c.speaker"}],
                          "outputs": {"audio": "c.audio"}})
    eng = Engine()
    try:
        (err,) = eng.plan(parse_pipeline({**doc.to_dict(), "nodes": [
            *doc.to_dict()["nodes"][:2], {"id": "c", "type": "tts.coqui",
                                          "params": {"model": str(xtts), "language": "fr"}}]})).errors
        assert (err.node, err.field) == ("c", "language")
        result = eng.run(doc)
        audio = result.outputs["audio"]
        assert result.stages["c"].status == "done" and audio.sample_rate == 24000 and audio.duration > 0.1
    finally:
        eng.close()
