"""The model manager recognises a GPT-SoVITS v2 voice folder (and not as RVC, whose .pth also has weight/config)."""
from __future__ import annotations

import shutil

from haysay.graph_engine.models.detect import detect


def test_detects_a_v2_voice(gs_files, tmp_path):
    folder = tmp_path / "voice"
    folder.mkdir()
    shutil.copy(gs_files[0], folder / "voice-e15.ckpt")
    shutil.copy(gs_files[1], folder / "voice_e8_s200.pth")
    found = detect(folder)
    assert (found.architecture, found.version) == ("gpt_sovits", "v2")
    assert found.roles == {"voice-e15.ckpt": "gpt", "voice_e8_s200.pth": "weights"}
    assert found.info["sample_rate"] == 32000 and found.info["has_gpt"]
