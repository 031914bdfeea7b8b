"""vc.sovits's 3.0 synthesizer against so-vits-svc 3.0's own: files written by upstream's
utils.save_checkpoint and the output upstream's SynthesizerTrn.infer computed on them (noise zeroed).

The data is ../shared/fixtures/upstream/sovits3 (its README says how it was made); the test skips where
it is absent. Measured: relL2 7.5e-7 (32k) and 5.4e-7 (48k), max abs difference 1.8e-6."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from haysay.nodes.vc.sovits.checkpoint import build_sovits_model, read_sovits_config

REPO = Path(__file__).resolve().parents[4]
ROOT = Path(os.environ.get("HAYSAY_UPSTREAM_FIXTURES") or REPO.parent / "shared" / "fixtures" / "upstream") / "sovits3"


def _zeros(*args, **kwargs):
    shape = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)) else args
    return torch.zeros(*shape, device=kwargs.get("device"), dtype=kwargs.get("dtype") or torch.float32)


@pytest.mark.parametrize("branch, rate", [("32k", 32000), ("48k", 48000)])
def test_matches_upstream_3_0_inference(branch, rate, monkeypatch):
    folder = ROOT / branch
    if not (folder / "synth.npz").exists():
        pytest.skip(f"so-vits-svc 3.0 reference data not found at {folder}")
    info = read_sovits_config(folder / "config.json")
    assert (info.version, info.config.sampling_rate) == ("3.0", rate)
    model = build_sovits_model(folder / "G_1000.pth", info)
    with np.load(folder / "synth.npz") as data:
        c, f0, sid, ref = (torch.from_numpy(data["c"]), torch.from_numpy(data["f0"]), int(data["sid"]),
                           data["out_zero"].astype(np.float64).ravel())
    monkeypatch.setattr(torch, "randn", _zeros)
    monkeypatch.setattr(torch, "rand", _zeros)
    out, _ = model.infer(c, f0, (f0 > 0).float(), sid, 1.0)
    got = out.numpy().astype(np.float64).ravel()
    assert got.shape == ref.shape
    assert np.std(ref) > 0.01  # the reference is a real signal, not silence
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 1e-5
    assert np.abs(got - ref).max() < 1e-4
    assert np.corrcoef(got, ref)[0, 1] > 0.99999
