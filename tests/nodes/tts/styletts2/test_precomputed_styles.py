"""tts.styletts2 with Hay Say's precomputed styles, and a model installed without the repo's PL-BERT config.

Hay Say's StyleTTS 2 command line (hydrusbeta/StyleTTS2 command_line_interface.py) reads a style vector from
models/styletts_2/precomputed_styles.json by model, character and trait (get_precomputed_style_from_file) and
blends it exactly as a reference recording's compute_style output; the files below are written in that JSON
layout, their vectors computed by the node's own compute_style from espeak-ng speech."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from haysay.graph_engine.contract import default_registry
from haysay.nodes.vc.resolve import ModelRefError

TEXT = "Good morning, how are you?"


def speak(model, reference=None, **params):
    spec = default_registry()["tts.styletts2"]
    inputs = {"text": TEXT, **({"reference": reference} if reference is not None else {})}
    return spec.call({"model": str(model), **params}, **inputs)["audio"].mono()


def style_of(model_dir, clip) -> list[float]:
    import soxr

    from haysay.nodes.tts.styletts2.checkpoint import find_files, load_model
    from haysay.nodes.tts.styletts2.synthesis import compute_style

    model = load_model(find_files(model_dir))
    y = soxr.resample(clip.mono().astype(np.float64), clip.sample_rate, 24000, quality="HQ") \
        if clip.sample_rate != 24000 else clip.mono().astype(np.float64)
    return compute_style(model, y.astype(np.float32))[0].tolist()


@pytest.fixture(scope="module")
def hay_say(tmp_path_factory, libritts_model, voices):
    """models/styletts_2/ as Hay Say lays it out: the character's folder and, beside it, one styles file."""
    root = tmp_path_factory.mktemp("hay_say_styles")
    folder = root / "Twilight Sparkle"
    shutil.copytree(libritts_model.parent.parent, root / "repo")
    shutil.copytree(root / "repo" / "Models" / "Tiny", folder)
    shutil.copytree(root / "repo" / "Utils", folder / "Utils")  # this tiny PL-BERT is not the released one
    low, high = style_of(folder, voices["low"]), style_of(folder, voices["high"])
    styles = [{"Model": "Twilight Sparkle", "Characters": [
        {"Character": "Twilight Sparkle", "Pre-computed Styles": [{"Trait": "Neutral 1", "Style Vector": low},
                                                                  {"Trait": "Happy 1", "Style Vector": high}]},
        {"Character": "Rarity", "Pre-computed Styles": [{"Trait": "Neutral 1", "Style Vector": high}]}]}]
    (root / "precomputed_styles.json").write_text(json.dumps(styles, indent=1))
    return folder


def test_a_precomputed_style_speaks_as_the_recording_it_was_computed_from(hay_say, voices):
    from_reference = speak(hay_say, voices["low"])
    from_style = speak(hay_say, style_trait="Neutral 1")
    np.testing.assert_allclose(from_style, from_reference, atol=1e-5)
    happy = speak(hay_say, style_trait="Happy 1")
    assert np.sqrt(np.mean((happy[:len(from_style)] - from_style[:len(happy)]) ** 2)) > 1e-3
    # another character's style on this model: Rarity's Neutral 1 is the high voice's vector
    np.testing.assert_allclose(speak(hay_say, style_trait="Neutral 1", style_character="Rarity"), happy, atol=1e-5)


def test_the_earlier_file_shape_and_an_explicit_file(hay_say, tmp_path, voices):
    table = json.loads((hay_say.parent / "precomputed_styles.json").read_text())[0]["Characters"]
    (tmp_path / "old.json").write_text(json.dumps(table))  # [{"Character", "Pre-computed Styles"}, ...]
    np.testing.assert_allclose(speak(hay_say, style_trait="Happy 1", styles_file=str(tmp_path / "old.json")),
                               speak(hay_say, style_trait="Happy 1"), atol=1e-6)


@pytest.mark.parametrize("params, field, message", [
    ({"style_trait": "Sad 9"}, "style_trait", r"no trait 'Sad 9' \(it has: Happy 1, Neutral 1\)"),
    ({"style_trait": "Neutral 1", "style_character": "Spike"}, "style_character",
     r"no character 'Spike' \(it has: Rarity, Twilight Sparkle\)"),
    ({"style_character": "Rarity"}, "style_trait", "name the trait"),
])
def test_unknown_styles_are_named_on_their_field(hay_say, params, field, message):
    with pytest.raises(ModelRefError, match=message) as info:
        speak(hay_say, **params)
    assert info.value.field == field


def test_bad_files_and_mixed_sources_are_refused(hay_say, tmp_path, voices):
    bad = tmp_path / "bad.json"
    for text, message in (("[{", "not valid JSON"), ('{"a": 1}', "expected a list"),
                          ('[{"Character": "X", "Pre-computed Styles": [{"Trait": "T", "Style Vector": "no"}]}]',
                           "'Style Vector' \\(a list of numbers\\)")):
        bad.write_text(text)
        with pytest.raises(ModelRefError, match=message) as info:
            speak(hay_say, style_trait="T", styles_file=str(bad))
        assert info.value.field == "styles_file"
    bad.write_text(json.dumps([{"Character": "Twilight Sparkle",
                                "Pre-computed Styles": [{"Trait": "Short", "Style Vector": [0.1] * 100}]}]))
    with pytest.raises(ModelRefError, match="has 100 numbers; this model.s styles have 256") as info:
        speak(hay_say, style_trait="Short", styles_file=str(bad))
    assert info.value.field == "style_trait"
    with pytest.raises(ModelRefError, match="either it or a precomputed style") as info:
        speak(hay_say, voices["low"], style_trait="Neutral 1")
    with pytest.raises(ModelRefError, match="styles_file: no precomputed_styles.json"):
        speak(hay_say.parent / "repo" / "Models" / "Tiny", style_trait="Neutral 1")


def test_validation_locates_a_missing_trait_before_running(hay_say):
    from haysay.graph_engine.builder import Pipeline

    p = Pipeline()
    tts = p.add("tts.styletts2", id="st", model=str(hay_say), style_trait="Giggly 3")
    p.input("text", tts.text, default="Hello")
    assert {(e.node, e.field) for e in p.validate()} == {("st", "style_trait")}


def test_released_plbert_sizes_when_no_plbert_config_is_installed(tmp_path, monkeypatch):
    """Hay Say installs a character as its .pth and config.yml; the repo's Utils/PLBERT/config.yml (upstream's
    released PL-BERT, which the checkpoint's BERT was trained with) stays with Hay Say's code. A model whose
    BERT has the released sizes loads without it and speaks as with the config present."""
    from haysay.nodes.tts.styletts2.checkpoint import RELEASED_PLBERT, find_files

    from .conftest import PLBERT, write_model
    from . import conftest

    monkeypatch.setattr(conftest, "PLBERT", {"model_params": {**PLBERT["model_params"], **RELEASED_PLBERT}})
    model_dir = write_model(tmp_path / "release", multispeaker=False, decoder="istftnet", data_parallel=False)
    with_config = speak(model_dir)
    assert find_files(model_dir).plbert_config is not None
    hay_say = tmp_path / "models" / "styletts_2" / "Twilight Sparkle"
    hay_say.mkdir(parents=True)
    shutil.copy(model_dir / "epochs_2nd_00001.pth", hay_say / "Twilight0.pth")  # Hay Say's "Download As"
    shutil.copy(model_dir / "config.yml", hay_say / "config.yml")
    assert find_files(hay_say).plbert_config is None
    np.testing.assert_array_equal(speak(hay_say), with_config)
