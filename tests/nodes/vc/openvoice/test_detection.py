"""`haysay models install` recognises an OpenVoice converter folder, and vc.openvoice runs it by name."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from haysay.graph_engine.contract import default_registry
from haysay.graph_engine.models import ModelStore, detect
from haysay.graph_engine.models.errors import DetectionError
from haysay.graph_engine.values import Audio

FIX = Path(__file__).resolve().parents[3] / "fixtures" / "openvoice"


@pytest.fixture
def checkpoints_v2(tmp_path):
    """Upstream's download layout: checkpoints_v2/converter/ + base_speakers/ses/*.pth."""
    root = tmp_path / "checkpoints_v2"
    (root / "converter").mkdir(parents=True)
    (root / "base_speakers" / "ses").mkdir(parents=True)
    for name in ("checkpoint.pth", "config.json"):
        shutil.copy(FIX / "converter" / name, root / "converter" / name)
    shutil.copy(FIX / "reference_se.pth", root / "base_speakers" / "ses" / "en-us.pth")
    return root


def test_converter_folder_is_detected_with_roles(checkpoints_v2):
    found = detect(checkpoints_v2)
    assert (found.architecture, found.version) == ("openvoice", "v2")
    assert found.roles == {"converter/checkpoint.pth": "weights", "converter/config.json": "config",
                           "base_speakers/ses/en-us.pth": "speaker"}
    assert found.info["sample_rate"] == 22050 and found.info["embeddings"] == ["en-us"]
    assert detect(checkpoints_v2 / "converter").roles["checkpoint.pth"] == "weights"


def test_converter_without_its_config_is_refused(checkpoints_v2):
    (checkpoints_v2 / "converter" / "config.json").unlink()
    with pytest.raises(DetectionError, match="needs its config.json"):
        detect(checkpoints_v2)


def test_a_lone_state_dict_is_not_taken_for_openvoice(tmp_path):
    torch.save({"model": {"enc_q.pre.weight": torch.zeros(2)}}, tmp_path / "checkpoint.pth")
    with pytest.raises(DetectionError, match="not a model haysay recognises"):
        detect(tmp_path)


def test_installed_converter_runs_by_name(checkpoints_v2, haysay_home):
    installed = ModelStore.from_env().install(str(checkpoints_v2), name="ov-test")
    assert installed.architecture == "openvoice"
    src, rate = sf.read(FIX / "source.wav", dtype="float32")
    spec = default_registry()["vc.openvoice"]
    se = installed.files_with("speaker")[0]
    out = spec.call({"model": "ov-test", "target_embedding": str(se), "split_seconds": 1.0},
                    audio=Audio(src[None], rate))["audio"]
    with np.load(FIX / "upstream_outputs.npz") as ref:
        want = ref["out_v2_tau0.3_seed0"]
    assert np.linalg.norm(out.mono() - want) / np.linalg.norm(want) < 1e-4
    assert spec.fingerprint(spec.params(model="ov-test"))["model"].startswith("sha256:")
