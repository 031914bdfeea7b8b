"""`haysay models ...` and `haysay doctor` end to end through the CLI entry point."""
from __future__ import annotations

import json

import pytest

from haysay.cli import main
from haysay.graph_engine.doctor import Component, format_report, run_doctor


def test_models_install_list_verify_remove(fake, haysay_home, tmp_path, file_server, capsys, monkeypatch):
    data = fake.rvc(tmp_path / "alto.pth").read_bytes()
    url = file_server.add("/alto.pth", data)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert main(["models", "install", url]) == 3  # cancelled at the prompt; nothing fetched
    out = capsys.readouterr()
    assert f"alto: 1 file(s), {len(data) / 1024:.1f} KiB to download" in out.out and "cancelled" in out.err
    assert main(["models", "install", url, "--yes", "--name", "Alto"]) == 0
    assert "installed 'Alto': rvc v2" in capsys.readouterr().out
    assert main(["models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(m["name"], m["architecture"], m["size"]) for m in listed] == [("Alto", "rvc", len(data))]
    assert main(["models", "list"]) == 0
    assert "1 model(s)" in capsys.readouterr().out
    assert main(["models", "verify"]) == 0
    (haysay_home / "models" / "rvc" / "Alto" / "alto.pth").unlink()
    assert main(["models", "verify"]) == 1
    assert "Alto: missing alto.pth" in capsys.readouterr().out
    assert main(["models", "remove", "Alto"]) == 0
    assert main(["models", "remove", "Alto"]) == 3
    assert "no model named 'Alto'" in capsys.readouterr().err


def test_models_catalogue_listing_marks_installed(fake, haysay_home, tmp_path, capsys):
    fake.rvc(tmp_path / "src" / "cozy.pth")
    cat = tmp_path / "architectures" / "rvc" / "character_models.json"
    cat.parent.mkdir(parents=True)
    cat.write_text(json.dumps([
        {"Model Name": "Cozy Glow", "License": "UNSPECIFIED",
         "Files": [{"URL": "https://huggingface.co/x/y/resolve/main/c.pth", "Download With": "HUGGINGFACE_HUB",
                    "Download As": "c.pth", "Size (bytes)": 55125567}]},
        {"Model Name": "Derpy Hooves", "Files": [{"URL": "https://x/d.pth", "Download With": "REQUESTS",
                                                  "Download As": "d.pth", "Size (bytes)": 100}]}]))
    assert main(["models", "install", str(tmp_path / "src"), "--name", "Cozy Glow"]) == 0
    capsys.readouterr()
    assert main(["models", "catalogue", str(cat)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "2 model(s), architecture rvc" in lines[0]
    cozy = next(line for line in lines if "Cozy Glow" in line)
    assert "52.6 MiB" in cozy and "[installed]" in cozy
    assert "[installed]" not in next(line for line in lines if "Derpy" in line)
    assert main(["models", "catalogue", str(tmp_path / "nope.json")]) == 3


def test_doctor_table_and_json(fake, haysay_home, tmp_path, capsys):
    fake.rvc(tmp_path / "r" / "v.pth")
    main(["models", "install", str(tmp_path / "r")])
    capsys.readouterr()
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    by_name = {c["name"]: c for c in report["components"]}
    assert set(by_name) >= {"tts.piper", "tts.espeak", "vc.world", "vc.praat", "analysis.pitch (crepe)",
                            "vc.rvc", "vc.sovits"}
    assert by_name["vc.world"]["ready"] and by_name["tts.espeak"]["ready"]
    assert "1 rvc installed, 0 content_encoder installed" in by_name["vc.rvc"]["models"]
    assert not by_name["vc.rvc"]["ready"]  # no content encoder yet
    assert report["python"].count(".") == 2 and report["torch"].startswith("2.")
    assert main(["doctor"]) == 0
    table = capsys.readouterr().out
    assert "component" in table and "vc.sovits" in table and "GPU:" in table


def test_doctor_names_missing_dependency_and_extra(store):
    comps = (Component("vc.fake", ("torch", "definitely_not_a_module_xyz"), extra="fake", needs_models=False),)
    report = run_doctor(store, comps)
    (status,) = report.components
    assert not status.deps_ok and not status.ready
    assert status.missing[0].startswith("definitely_not_a_module_xyz (ModuleNotFoundError")
    assert status.hint == "pip install 'haysay[fake]'"
    assert "missing definitely_not_a_module_xyz" in format_report(report)


def test_doctor_sees_the_gpu_when_there_is_one(store):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device here")
    report = run_doctor(store)
    assert report.cuda and report.gpus and report.gpus[0].startswith("cuda:0 ")
    assert torch.cuda.get_device_name(0) in report.gpus[0]


def test_doctor_lists_every_architecture_adapter():
    from haysay.graph_engine.contract import default_registry
    from haysay.graph_engine.doctor import COMPONENTS

    listed = {c.name.split(" ")[0] for c in COMPONENTS}
    adapters = {s.type for s in default_registry() if s.lifecycle is not None and s.type.startswith(("tts.", "vc."))}
    assert adapters and adapters <= listed, f"haysay doctor does not report {sorted(adapters - listed)}"
