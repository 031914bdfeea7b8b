"""Catalogue parsing: haysay's own shape and Hay Say's character_models.json as published."""
from __future__ import annotations

import json

import pytest

from haysay.graph_engine.models import CatalogueError, load_catalogue, parse_catalogue

# Two entries copied in Hay Say's exact shape (architectures/rvc/character_models.json).
HAY_SAY_RVC = [
    {"Model Name": "Cozy Glow",
     "Files": [{"URL": "https://huggingface.co/therealvul/RVC/resolve/main/CozyGlow/CozyGlow.pth",
                "Download With": "HUGGINGFACE_HUB", "Download As": "CozyGlow.pth", "Size (bytes)": 55125567},
               {"URL": "https://huggingface.co/therealvul/RVC/resolve/main/CozyGlow/added_IVF173_Flat_nprobe_4.index",
                "Download With": "HUGGINGFACE_HUB", "Download As": "added_IVF173_Flat_nprobe_4.index.index",
                "Size (bytes)": 7158091}],
     "License": "UNSPECIFIED"},
    {"Model Name": "Vinyl Scratch (alt)",
     "Files": [{"URL": "https://files.catbox.moe/2xh15a.zip", "Download With": "HUGGINGFACE_HUB",
                "Download As": "2xh15a.zip", "Unzip Strategy": "REMOVE_OUTERMOST_DIR", "Size (bytes)": 170764494}],
     "Originally Acquired From": "https://mega.nz/file/pf4wxT6J", "License": "UNSPECIFIED"},
]


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_hay_say_catalogue_read_unchanged(tmp_path):
    path = write(tmp_path / "architectures" / "rvc" / "character_models.json", HAY_SAY_RVC)
    cat = load_catalogue(str(path))
    assert cat.architecture == "rvc"
    assert [e.name for e in cat.entries] == ["Cozy Glow", "Vinyl Scratch (alt)"]
    cozy = cat.find("cozy glow")
    assert cozy.size == 55125567 + 7158091 and cozy.license == "UNSPECIFIED"
    assert cozy.files[1].path == "added_IVF173_Flat_nprobe_4.index.index"
    assert cozy.files[0].download_with == "HUGGINGFACE_HUB" and cozy.files[0].unzip is None
    vinyl = cat.find("Vinyl Scratch (alt)")
    assert vinyl.files[0].unzip == "REMOVE_OUTERMOST_DIR" and vinyl.source == "https://mega.nz/file/pf4wxT6J"


def test_hay_say_sovits_folder_and_dependencies(tmp_path):
    entry = {"Model Name": "Luna (singing, PS1)", "Multi-speaker Model Dependency": "Pony1",
             "Files": [{"URL": "https://x/speaker.json", "Download With": "HUGGINGFACE_HUB",
                        "Download As": "speaker.json", "Size (bytes)": 36}],
             "Symlinks": [{"As": "G_101600.pth", "Target": "G_101600.pth"}], "License": "UNSPECIFIED"}
    cat = parse_catalogue([entry], "hay_say_ui/architectures/so_vits_svc_4/character_models.json")
    assert (cat.architecture, cat.entries[0].version) == ("sovits", "4.0")
    assert cat.entries[0].depends_on == "Pony1" and cat.entries[0].links == (("G_101600.pth", "G_101600.pth"),)


def test_native_catalogue(tmp_path):
    data = {"architecture": "rvc", "models": [
        {"name": "Alto", "version": "v2", "license": "CC-BY-4.0", "creator": "haysay tests",
         "files": [{"url": "https://example.org/alto.pth", "size": 10, "sha256": "ab" * 32}]}]}
    cat = parse_catalogue(data, "mine.json")
    entry = cat.find("Alto")
    assert (entry.architecture, entry.version, entry.creator) == ("rvc", "v2", "haysay tests")
    assert entry.files[0].path == "alto.pth" and entry.files[0].sha256 == "ab" * 32


@pytest.mark.parametrize("mutate,message", [
    (lambda e: e.pop("Model Name"), r"\[0\]: 'Model Name' must be a non-empty string"),
    (lambda e: e.update(Files=[]), r"\[0\] \(Cozy Glow\): 'Files' must be a non-empty list"),
    (lambda e: e["Files"][0].update({"Unzip Strategy": "EXPLODE"}), r"\[0\]\.Files\[0\]: unzip strategy 'EXPLODE'"),
    (lambda e: e["Files"][0].update({"Download As": "../../.bashrc"}), r"Files\[0\]: file path '../../.bashrc' must stay inside"),
    (lambda e: e["Files"][0].update({"Size (bytes)": -5}), r"Files\[0\]: size must be a whole number"),
    (lambda e: e["Files"][0].update({"Download With": "FTP"}), r"'Download With' is 'FTP'"),
])
def test_bad_entries_name_the_field(mutate, message):
    entry = json.loads(json.dumps(HAY_SAY_RVC[0]))
    mutate(entry)
    with pytest.raises(CatalogueError, match=message):
        parse_catalogue([entry], "cat.json")


def test_unknown_name_suggests_and_bad_json_names_line(tmp_path):
    cat = parse_catalogue(HAY_SAY_RVC, "architectures/rvc/character_models.json")
    with pytest.raises(CatalogueError, match="no model named 'Cozy Glo' among 2; did you mean 'Cozy Glow'"):
        cat.find("Cozy Glo")
    bad = tmp_path / "bad.json"
    bad.write_text('[{"Model Name": "x",\n  oops}]')
    with pytest.raises(CatalogueError, match="bad.json: not valid JSON \\(line 2"):
        load_catalogue(str(bad))
    with pytest.raises(CatalogueError, match="no such catalogue file"):
        load_catalogue(str(tmp_path / "missing.json"))


def test_catalogue_over_http(file_server):
    file_server.add("/hay_say_ui/main/architectures/rvc/character_models.json", json.dumps(HAY_SAY_RVC).encode())
    cat = load_catalogue(file_server.url + "/hay_say_ui/main/architectures/rvc/character_models.json")
    assert cat.architecture == "rvc" and len(cat.entries) == 2
    with pytest.raises(CatalogueError, match="HTTP 404"):
        load_catalogue(file_server.url + "/missing.json")
