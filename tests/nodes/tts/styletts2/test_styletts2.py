"""tts.styletts2 on model folders in upstream's released layout (see conftest.py), speaking real text
with real reference speech (espeak-ng), and its text front end against upstream's phonemizer output."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from haysay.graph_engine.contract import default_registry
from haysay.nodes.tts.styletts2.synthesis import phonemize, tokens_of, trim_silence
from haysay.nodes.vc.resolve import ModelRefError

DATA = Path(__file__).parent / "data"

SHORT, LONG = "Hi there.", "Hi there, how are you doing on this fine morning?"


def speak(model_dir, text=SHORT, reference=None, **params):
    spec = default_registry()["tts.styletts2"]
    inputs = {"text": text} if reference is None else {"text": text, "reference": reference}
    return spec.call({"model": str(model_dir), **params}, **inputs)["audio"]


def rel(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float(np.linalg.norm(a[:n] - b[:n]) / (np.linalg.norm(b[:n]) + 1e-12))


def test_fixture_layout_is_upstreams(libritts_model):
    """The fixture checkpoint has exactly the keys and shapes upstream's build_model + train_second save wrote."""
    upstream = json.loads((DATA / "upstream_layout_libritts.json").read_text())
    net = torch.load(libritts_model / "epochs_2nd_00001.pth", weights_only=True)["net"]
    for name, keys in upstream.items():
        assert {k: list(v.shape) for k, v in net[name].items()} == keys, name


def test_phonemes_match_upstream_phonemizer():
    """phonemizer EspeakBackend('en-us', preserve_punctuation, with_stress) + NLTK tokenizer, run by upstream's
    inference code on the same espeak-ng library (data/README.md), and TextCleaner's ids."""
    ref = json.loads((DATA / "upstream_text.json").read_text(encoding="utf-8"))
    for text, phonemes in ref["phonemes"].items():
        assert phonemize(text) == phonemes, text
    for text, tokens in ref["tokens"].items():
        assert tokens_of(phonemize(text)) == tokens


def test_trim_matches_librosa(voices):
    librosa = pytest.importorskip("librosa")
    y = voices["low"].mono()
    padded = np.concatenate([np.zeros(9000, np.float32), y, np.zeros(13000, np.float32)])
    ours, (theirs, _) = trim_silence(padded), librosa.effects.trim(padded, top_db=30)
    assert len(ours) == len(theirs) and np.array_equal(ours, theirs)
    assert len(ours) < len(padded) - 15000


def test_speaks_24k_nonsilent_and_length_follows_text_and_speed(libritts_model, voices):
    short = speak(libritts_model, SHORT, voices["low"])
    long = speak(libritts_model, LONG, voices["low"])
    fast = speak(libritts_model, LONG, voices["low"], speed=2.0)
    slow = speak(libritts_model, LONG, voices["low"], speed=0.5)
    assert short.sample_rate == long.sample_rate == 24000 and short.channels == 1
    for a in (short, long, fast, slow):
        y = a.mono()
        assert np.isfinite(y).all() and np.sqrt(np.mean(y ** 2)) > 1e-3
    n_short, n_long = short.frames, long.frames
    tokens = len(tokens_of(phonemize(LONG))) / len(tokens_of(phonemize(SHORT)))
    # every frame is 600 samples; lengths grow with the token count
    assert n_long > 2.5 * n_short and 0.5 * tokens < n_long / n_short < 2 * tokens
    assert slow.frames > 1.5 * long.frames and fast.frames < 0.8 * long.frames


def test_reference_voice_changes_style_and_output(libritts_model, voices):
    from haysay.nodes.tts.styletts2.checkpoint import find_files, load_model
    from haysay.nodes.tts.styletts2.synthesis import compute_style

    model = load_model(find_files(libritts_model))
    import soxr

    high = soxr.resample(voices["high"].mono().astype(np.float64), 22050, 24000, quality="HQ").astype(np.float32)
    s_low, s_high = compute_style(model, voices["low"].mono()), compute_style(model, high)
    assert float((s_low - s_high).norm() / s_low.norm()) > 0.05
    # alpha = beta = 0: the voice is the reference's alone
    a = speak(libritts_model, SHORT, voices["low"], alpha=0.0, beta=0.0).mono()
    b = speak(libritts_model, SHORT, voices["high"], alpha=0.0, beta=0.0).mono()
    assert rel(a, b) > 0.05


def test_alpha_beta_and_seed(libritts_model, voices):
    base = speak(libritts_model, SHORT, voices["low"]).mono()
    again = speak(libritts_model, SHORT, voices["low"]).mono()
    assert np.array_equal(base, again)
    other_seed = speak(libritts_model, SHORT, voices["low"], seed=5).mono()
    assert rel(other_seed, base) > 0.01
    alpha = speak(libritts_model, SHORT, voices["low"], alpha=1.0).mono()
    beta = speak(libritts_model, SHORT, voices["low"], beta=0.0).mono()
    assert rel(alpha, base) > 0.01 and rel(beta, base) > 0.01


def test_long_text_is_spoken_sentence_by_sentence(libritts_model, voices):
    one = speak(libritts_model, SHORT, voices["low"])
    two = speak(libritts_model, SHORT + " " + SHORT, voices["low"])
    assert 1.6 * one.frames < two.frames < 2.4 * one.frames


def test_single_speaker_istftnet_model(ljspeech_model):
    out = speak(ljspeech_model, LONG)
    y = out.mono()
    assert out.sample_rate == 24000 and np.isfinite(y).all() and np.sqrt(np.mean(y ** 2)) > 1e-3
    assert np.array_equal(y, speak(ljspeech_model, LONG).mono())
    assert speak(ljspeech_model, SHORT).frames < 0.6 * out.frames


def _refused(model, field: str, match: str, **inputs):
    spec = default_registry()["tts.styletts2"]
    with pytest.raises(ModelRefError, match=match) as info:
        spec.call({"model": str(model)}, **({"text": SHORT} | inputs))
    assert info.value.field == field
    assert "Traceback" not in str(info.value)
    return info.value


def test_multispeaker_needs_a_long_enough_reference(libritts_model, voices):
    _refused(libritts_model, "reference", "connect a recording")
    blip = type(voices["low"]).from_mono(voices["low"].mono()[:12000], 24000)  # 0.5 s
    _refused(libritts_model, "reference", "at least 1 s", reference=blip)


def test_bad_and_missing_files_are_refused_on_the_model_field(tmp_path, libritts_model, voices):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(libritts_model.parent.parent, root)
    model = root / "Models" / "Tiny"
    ckpt = model / "epochs_2nd_00001.pth"
    ref = voices["low"]

    (root / "Utils" / "PLBERT" / "config.yml").rename(root / "plbert.yml")
    # without it upstream's released PL-BERT sizes are assumed: this tiny BERT does not fit them
    _refused(model, "model", r"net\['bert'\].*released PL-BERT sizes were assumed", reference=ref)
    (root / "plbert.yml").rename(root / "Utils" / "PLBERT" / "config.yml")

    cfg = (model / "config.yml").read_text()
    (model / "config.yml").write_text(cfg.replace("hifigan", "wavenet"))
    _refused(model, "model", "decoder.type", reference=ref)
    (model / "config.yml").write_text(cfg.replace("dim_in: 16", "dim_in: 32"))
    _refused(model, "model", r"net\['predictor_encoder'\].*shape", reference=ref)
    (model / "config.yml").unlink()
    _refused(model, "model", "config.yml not found", reference=ref)
    (model / "config.yml").write_text(cfg)

    state = torch.load(ckpt, weights_only=True)
    del state["net"]["decoder"]
    torch.save(state, ckpt)
    _refused(model, "model", r"net has no 'decoder'", reference=ref)
    torch.save({"model": {}}, ckpt)
    _refused(model, "model", "not a StyleTTS 2 2nd-stage checkpoint", reference=ref)
    torch.save({"net": {"x": os.system}}, ckpt)  # a pickle naming a function
    _refused(model, "model", "os.system|posix.system", reference=ref)
    ckpt.unlink()
    _refused(model, "model", "no epochs_2nd", reference=ref)
    _refused(tmp_path / "nowhere", "model", "nowhere", reference=ref)


def test_model_manager_detects_and_runs_an_installed_model(libritts_model, ljspeech_model, voices, haysay_home):
    from haysay.graph_engine.models import ModelStore, detect

    root = libritts_model.parent.parent  # the released repo layout: Models/Tiny/ beside Utils/PLBERT/
    found = detect(root)
    assert (found.architecture, found.info) == ("styletts2", {"sample_rate": 24000, "multispeaker": True,
                                                               "decoder": "hifigan"})
    assert found.roles["Models/Tiny/epochs_2nd_00001.pth"] == "weights"
    assert found.roles["Models/Tiny/config.yml"] == "config"
    assert detect(ljspeech_model.parent.parent).info["decoder"] == "istftnet"
    installed = ModelStore.from_env().install(str(root), name="st2-tiny")
    assert installed.architecture == "styletts2"
    by_name = speak("st2-tiny", SHORT, voices["low"]).mono()
    assert np.array_equal(by_name, speak(libritts_model, SHORT, voices["low"]).mono())


def test_detection_wants_the_config_beside_the_checkpoint(tmp_path, libritts_model):
    import shutil

    from haysay.graph_engine.models import detect
    from haysay.graph_engine.models.errors import DetectionError

    shutil.copy(libritts_model / "epochs_2nd_00001.pth", tmp_path / "epochs_2nd_00001.pth")
    with pytest.raises(DetectionError, match="needs its config.yml"):
        detect(tmp_path)


def test_sampler_noise_levels_are_upstreams():
    """KarrasSchedule(1e-4, 3.0, rho=9) and ADPM2Sampler.get_sigmas as upstream computes them (data/README.md)."""
    from haysay.nodes.tts.styletts2.diffusion import adpm2_sigmas, karras_sigmas

    ref = json.loads((DATA / "upstream_sampler.json").read_text())
    for steps, want in ref.items():
        sigmas = karras_sigmas(int(steps))
        assert sigmas.tolist() == want["sigmas"]
        for i, (up, down, mid) in enumerate(want["adpm2"]):
            got = adpm2_sigmas(sigmas[i], sigmas[i + 1])
            assert (got[0], got[1], float(got[2])) == (up, down, mid)


def test_long_text_is_cut_into_sentences_and_position_table_sized_chunks():
    from haysay.nodes.tts.styletts2.synthesis import chunk_tokens, sentences

    assert sentences("One here. Two there!  Three?") == ["One here.", "Two there!", "Three?"]
    phonemes = phonemize(" ".join(["wonderful"] * 80))
    chunks = chunk_tokens(phonemes, 100)
    assert len(chunks) >= 5 and all(len(c) <= 100 and c[0] == 0 for c in chunks)
    assert sum(len(c) - 1 for c in chunks) == len(tokens_of(phonemes)) - 1 - (len(chunks) - 1)  # a space per cut


def test_runs_in_a_graph_with_espeak_speech_as_reference(libritts_model, tmp_path, haysay_home):
    from haysay.graph_engine import Engine, parse_pipeline

    def doc(params, reference=True):
        nodes = [{"id": "t", "type": "text.value", "params": {"text": SHORT}},
                 {"id": "s", "type": "tts.styletts2", "params": params}]
        edges = [{"from": "t.text", "to": "s.text"}]
        if reference:  # espeak-ng speech as the voice to copy
            nodes += [{"id": "r", "type": "text.value", "params": {"text": "A voice to copy, for a while."}},
                      {"id": "ref", "type": "tts.espeak", "params": {}}]
            edges += [{"from": "r.text", "to": "ref.text"}, {"from": "ref.audio", "to": "s.reference"}]
        return parse_pipeline({"format": "haysay.pipeline/1", "name": "st2", "nodes": nodes, "edges": edges,
                               "outputs": {"audio": "s.audio"}})

    eng = Engine()
    try:
        # the model is checked at validation (where the reference's size is known: here none is wired)
        (err,) = eng.plan(doc({"model": str(tmp_path / "missing")}, reference=False)).errors
        assert (err.node, err.field) == ("s", "model")
        (err,) = eng.plan(doc({"model": str(libritts_model.parent)}, reference=False)).errors
        assert (err.node, err.field) == ("s", "model") and "no epochs_2nd" in err.message
        (err,) = eng.plan(doc({"model": str(libritts_model), "alpha": 2.0})).errors
        assert (err.node, err.field) == ("s", "alpha")
        good = doc({"model": str(libritts_model), "seed": 3})
        assert eng.plan(good).ok
        result = eng.run(good)
        audio = result.outputs["audio"]
        assert result.stages["s"].status == "done" and audio.sample_rate == 24000 and audio.duration > 0.3
        assert np.sqrt(np.mean(audio.mono() ** 2)) > 1e-3
    finally:
        eng.close()
