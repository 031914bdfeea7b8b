"""`haysay models install` recognises a so-vits-svc 5.0 folder (upstream's sovits5.0.pth, its YAML and the
data_svc/singer/*.spk.npy speaker files), and vc.sovits5 finds the files by the installed name."""
from __future__ import annotations

import shutil

import numpy as np

from haysay.graph_engine.doctor import run_doctor
from haysay.graph_engine.models import ModelStore, detect
from haysay.nodes.vc.resolve import content_digest
from haysay.nodes.vc.sovits5.node import Sovits5Params, _weights_and_config

from .conftest import DATA


def _folder(root):
    (root / "singer").mkdir(parents=True)
    shutil.copy(DATA / "sovits5.0.pth", root / "sovits5.0.pth")
    shutil.copy(DATA / "small.yaml", root / "base.yaml")
    np.save(root / "singer" / "alto.spk.npy", np.ones(16, np.float32), allow_pickle=False)
    return root


def test_exported_model_folder_is_detected_with_roles(tmp_path):
    found = detect(_folder(tmp_path / "m"))
    assert (found.architecture, found.version) == ("sovits5", "5.0")
    assert found.roles == {"sovits5.0.pth": "weights", "base.yaml": "config", "singer/alto.spk.npy": "speaker"}


def test_installed_model_resolves_by_name(tmp_path, haysay_home):
    installed = ModelStore.from_env().install(str(_folder(tmp_path / "m")), name="s5-test")
    assert installed.architecture == "sovits5"
    weights, config = _weights_and_config(Sovits5Params(model="s5-test"))
    assert content_digest(weights) == content_digest(DATA / "sovits5.0.pth")
    assert config.read_text() == (DATA / "small.yaml").read_text()
    assert installed.files_with("speaker")[0].name == "alto.spk.npy"


def test_doctor_reports_readiness_once_model_and_encoders_are_installed(tmp_path, haysay_home, encoders):
    store = ModelStore.from_env()
    assert not {c.name: c for c in run_doctor(store).components}["vc.sovits5"].ready
    store.install(str(_folder(tmp_path / "m")), name="s5-test")
    for name in ("whisper", "hubert"):
        (tmp_path / name).mkdir()
        shutil.copy(encoders[name], tmp_path / name / encoders[name].name)
        store.install(str(tmp_path / name), name=encoders[name].stem)
    assert {c.name: c for c in run_doctor(store).components}["vc.sovits5"].ready
