"""Which catalogues the studio browses, and how a bad one is reported without hiding the others."""
from __future__ import annotations

import json

from haysay.graph_engine.models.catalogue import catalogue_sources, load_catalogues

HAY_SAY_ENTRY = {"Model Name": "Cozy Glow", "License": "UNSPECIFIED",
                 "Files": [{"URL": "https://huggingface.co/x/RVC/resolve/main/c.pth", "Download With": "HUGGINGFACE_HUB",
                            "Download As": "c.pth", "Size (bytes)": 100}]}


def test_sources_are_the_given_ones_then_the_home_folder(tmp_path):
    home = tmp_path / "home"
    folder = home / "catalogues"
    (folder / "so_vits_svc_4").mkdir(parents=True)
    (folder / "mine.json").write_text(json.dumps([{"name": "A", "language": "en", "files": [{"url": "http://h/a.pth"}]}]))
    (folder / "rvc.json").write_text(json.dumps([HAY_SAY_ENTRY]))
    (folder / "so_vits_svc_4" / "character_models.json").write_text(json.dumps([HAY_SAY_ENTRY]))
    (folder / "so_vits_svc_4" / "multi_speaker_models.json").write_text("[]")
    (folder / "notes.txt").write_text("not a catalogue")
    given = str(tmp_path / "given.json")
    sources = catalogue_sources(home, [given, str(folder / "mine.json")])
    assert sources == [given, str(folder / "mine.json"), str(folder / "rvc.json"),
                       str(folder / "so_vits_svc_4" / "character_models.json")]
    assert catalogue_sources(tmp_path / "nowhere") == []

    catalogues, problems = load_catalogues(sources)
    assert problems == [f"{given}: no such catalogue file"]
    archs = {c.origin.rsplit("/", 1)[-1]: (c.architecture, c.entries[0].version) for c in catalogues}
    # a Hay Say file keeps its architecture by its folder's name, or saved under that name
    assert archs == {"mine.json": (None, None), "rvc.json": ("rvc", None), "character_models.json": ("sovits", "4.0")}
    assert catalogues[0].entries[0].language == "en"


def test_a_broken_catalogue_is_one_located_problem(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"Model Name": "X", "Files": [{"URL": "http://h/x", "Download As": "../x.pth"}]}]')
    worse = tmp_path / "worse.json"
    worse.write_text("{not json")
    good = tmp_path / "rvc.json"
    good.write_text(json.dumps([HAY_SAY_ENTRY]))
    catalogues, problems = load_catalogues([str(bad), str(worse), str(good)])
    assert [c.entries[0].name for c in catalogues] == ["Cozy Glow"]
    assert problems == [f"{bad}[0].Files[0]: file path '../x.pth' must stay inside the model folder",
                        f"{worse}: not valid JSON (line 1: Expecting property name enclosed in double quotes)"]
