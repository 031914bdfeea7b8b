"""f0_method="rmvpe" in the RVC and so-vits nodes, with rmvpe.pt installed through the model manager.

The installed RMVPE has random weights except its output layer, which always reports one known
pitch; the tiny f0 models pass their sine source through, so the output's measured pitch shows
that RMVPE (and not another tracker) drove them."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from haysay.graph_engine.contract import default_registry
from haysay.graph_engine.models import ModelStore
from haysay.nodes.analysis.rmvpe import bin_cents, cents_to_hz, rmvpe_e2e0

from .conftest import measured_f0

KNOWN_BIN = 180
KNOWN_HZ = float(cents_to_hz(bin_cents(KNOWN_BIN)))  # 253.6 Hz, twice espeak's voice


@pytest.fixture(scope="module")
def rmvpe_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = rmvpe_e2e0()
    with torch.no_grad():
        model.fc[1].weight.zero_()
        model.fc[1].bias.fill_(-8.0)
        model.fc[1].bias[KNOWN_BIN] = 8.0
    path = tmp_path_factory.mktemp("rmvpe") / "rmvpe.pt"
    torch.save({k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}, path)
    return path


@pytest.mark.parametrize("node, files, key, extra", [
    ("vc.rvc", "rvc_files", ("v2", True), {}),
    ("vc.sovits", "sovits_files", "4.1", {"speaker": "twilight"}),
], ids=["rvc", "sovits"])
def test_installed_rmvpe_drives_the_pitch(node, files, key, extra, request, rmvpe_file, encoder_files, speech,
                                          haysay_home, monkeypatch):
    monkeypatch.delenv("HAYSAY_RMVPE", raising=False)
    spec = default_registry()[node]
    params = {"model": str(request.getfixturevalue(files)[key]), "content_encoder": str(encoder_files["fairseq"]),
              **extra}
    with pytest.raises(ValueError, match=r"f0_method: 'rmvpe' needs RVC's rmvpe\.pt.*haysay models install"):
        spec.call({**params, "f0_method": "rmvpe"}, audio=speech[0])
    ModelStore.from_env().install(str(rmvpe_file), name="rmvpe")
    out = spec.call({**params, "f0_method": "rmvpe"}, audio=speech[0])["audio"]
    assert measured_f0(out.mono(), out.sample_rate) == pytest.approx(KNOWN_HZ, rel=0.05)
    source = measured_f0(speech[0].mono(), speech[0].sample_rate)
    assert source < 0.7 * KNOWN_HZ  # so the output's pitch came from RMVPE, not the input's


def test_rmvpe_is_offered_but_not_the_default():
    for node in ("vc.rvc", "vc.sovits"):
        prop = default_registry()[node].describe()["params_schema"]["properties"]["f0_method"]
        assert prop["default"] == "pm"
        assert "rmvpe" in prop["enum"] and "not available" not in prop["description"]
