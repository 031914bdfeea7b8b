"""Hay Say's catalogue entries for its TTS architectures install as they are and speak by their installed names.

Entries are in the exact shape of hydrusbeta/hay_say_ui's architectures/<folder>/character_models.json
(styletts_2: "Twilight Sparkle (experimental)"; controllable_talknet: one zip per character, unzipped in
place, as ControllableTalkNet's core/download.py extracts it). The files behind them are tiny models in
the upstream formats; huggingface.co is served from 127.0.0.1 through HF_ENDPOINT."""
from __future__ import annotations

import importlib.util
import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from haysay.graph_engine.contract import default_registry

HERE = Path(__file__).parent


def _file_server_class():
    path = HERE.parent.parent / "graph_engine" / "models" / "conftest.py"
    spec = importlib.util.spec_from_file_location("haysay_test_models_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FileServer


@pytest.fixture
def file_server():
    server = _file_server_class()()
    yield server
    server.close()


@pytest.fixture
def store(haysay_home):
    from haysay.graph_engine.models import ModelStore

    return ModelStore.from_env()


def write_catalogue(root: Path, folder: str, entries: list, **beside: str) -> Path:
    path = root / "hay_say_ui" / "architectures" / folder / "character_models.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(entries, indent=4))
    for name, text in beside.items():
        (path.parent / name).write_text(text)
    return path


def test_styletts2_entry_installs_with_its_precomputed_styles(store, file_server, monkeypatch, tmp_path,
                                                              libritts_model, voices):
    from haysay.nodes.tts.styletts2.checkpoint import find_files, load_model
    from haysay.nodes.tts.styletts2.synthesis import compute_style

    # this tiny model's PL-BERT is not upstream's released one, so its config.yml goes with the entry as a third
    # file (Hay Say's real entry lists the .pth and config.yml; the released PL-BERT is then assumed: see
    # styletts2/test_precomputed_styles.py)
    pth = (libritts_model / "epochs_2nd_00001.pth").read_bytes()
    config = (libritts_model / "config.yml").read_bytes()
    plbert = (libritts_model.parent.parent / "Utils" / "PLBERT" / "config.yml").read_bytes()
    hub = "https://huggingface.co/therealvul/StyleTTS2/resolve/main/Twilight0/"
    file_server.add("/therealvul/StyleTTS2/resolve/main/Twilight0/epoch_2nd_00009.pth", pth)
    file_server.add("/therealvul/StyleTTS2/resolve/main/Twilight0/config.yml", config)
    file_server.add("/therealvul/StyleTTS2/resolve/main/Twilight0/plbert.yml", plbert)
    entry = {"Model Name": "Twilight Sparkle (experimental)", "License": "UNSPECIFIED", "Files": [
        {"URL": hub + "epoch_2nd_00009.pth", "Download With": "HUGGINGFACE_HUB", "Download As": "Twilight0.pth",
         "Size (bytes)": len(pth)},
        {"URL": hub + "config.yml", "Download With": "HUGGINGFACE_HUB", "Download As": "config.yml",
         "Size (bytes)": len(config)},
        {"URL": hub + "plbert.yml", "Download With": "HUGGINGFACE_HUB", "Download As": "Utils/PLBERT/config.yml",
         "Size (bytes)": len(plbert)}]}
    style = compute_style(load_model(find_files(libritts_model)), voices["low"].mono())[0].tolist()
    styles = [{"Model": "Twilight Sparkle (experimental)", "Characters": [
        {"Character": "Twilight Sparkle", "Pre-computed Styles": [{"Trait": "Neutral 1", "Style Vector": style}]}]}]
    catalogue = write_catalogue(tmp_path, "styletts_2", [entry], **{"precomputed_styles.json": json.dumps(styles)})
    monkeypatch.setenv("HF_ENDPOINT", file_server.url)

    model = store.install("Twilight Sparkle (experimental)", catalogue=str(catalogue))
    assert model.architecture == "styletts2" and model.path == store.root / "styletts2" / model.name
    assert (model.path / "precomputed_styles.json").is_file()  # brought from beside the catalogue
    spec = default_registry()["tts.styletts2"]
    params = {"model": model.name, "style_trait": "Neutral 1", "style_character": "Twilight Sparkle"}
    out = spec.call(params, text="Good morning.")["audio"]
    assert out.sample_rate == 24000 and np.sqrt(np.mean(out.mono() ** 2)) > 1e-3
    with_reference = spec.call({"model": model.name}, text="Good morning.", reference=voices["low"])["audio"]
    np.testing.assert_allclose(out.mono(), with_reference.mono(), atol=1e-5)


def test_talknet_entry_zip_unzips_in_place_and_speaks(store, file_server, tmp_path, character):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:  # the character files at the zip's top, as ControllableTalkNet ships
        for f in sorted(character.iterdir()):
            zf.write(f, f.name)
    data = buf.getvalue()
    # Hay Say downloads these with gdown from Google Drive, which tests cannot reach: the same entry,
    # fetched over plain HTTP from 127.0.0.1
    url = file_server.add("/uc/Apple%20Bloom.zip", data)
    entry = {"Model Name": "Apple Bloom", "License": "UNSPECIFIED", "Files": [
        {"URL": url, "Download With": "REQUESTS", "Download As": "Apple Bloom.zip",
         "Unzip Strategy": "UNZIP_IN_PLACE", "Size (bytes)": len(data)}]}
    catalogue = write_catalogue(tmp_path, "controllable_talknet", [entry])

    model = store.install("Apple Bloom", catalogue=str(catalogue))
    assert model.architecture == "talknet"
    assert sorted(p.name for p in model.path.iterdir() if p.name != "manifest.json" and not p.name.startswith(".")) \
        == sorted(p.name for p in character.iterdir())
    out = default_registry()["tts.talknet"].call({"model": model.name}, text="Hello there.")["audio"]
    direct = default_registry()["tts.talknet"].call({"model": str(character)}, text="Hello there.")["audio"]
    assert out.sample_rate == 22050
    np.testing.assert_array_equal(out.mono(), direct.mono())
