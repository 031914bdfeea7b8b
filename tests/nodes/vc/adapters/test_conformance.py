"""The shared conformance suite: every adapter, every checkpoint flavour, on real speech.

Each case runs the adapter's node on espeak speech from tiny checkpoints written
in the upstream file format, and checks rate, duration, signal, pitch shift and
bad-checkpoint errors the same way.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from haysay.graph_engine.contract import NodeContext, default_registry
from haysay.nodes.vc.safe_load import CheckpointError

from .conftest import measured_f0


@dataclass(frozen=True)
class Case:
    id: str
    node: str
    files: str                    # fixture giving {key: path}
    key: object
    rate: int
    f0: bool
    shift_field: str
    extra: dict

    def params(self, files: dict, encoder: Path, shift: float = 0.0, **more) -> dict:
        return {"model": str(files[self.key]), "content_encoder": str(encoder), self.shift_field: shift,
                **self.extra, **more}


CASES = [
    Case("rvc-v2-f0", "vc.rvc", "rvc_files", ("v2", True), 40000, True, "pitch_shift", {}),
    Case("rvc-v1-f0", "vc.rvc", "rvc_files", ("v1", True), 40000, True, "pitch_shift", {}),
    Case("rvc-v2-nof0", "vc.rvc", "rvc_files", ("v2", False), 40000, False, "pitch_shift", {}),
    Case("rvc-v1-nof0", "vc.rvc", "rvc_files", ("v1", False), 40000, False, "pitch_shift", {}),
    Case("sovits-4.1", "vc.sovits", "sovits_files", "4.1", 44100, True, "transpose", {"speaker": "twilight"}),
    Case("sovits-4.0", "vc.sovits", "sovits_files", "4.0", 44100, True, "transpose", {}),
]


def run(case: Case, request, encoder_files, speech, shift: float = 0.0, **more):
    files = request.getfixturevalue(case.files)
    spec = default_registry()[case.node]
    ctx = NodeContext()
    out = spec.call(case.params(files, encoder_files["fairseq"], shift, **more), ctx=ctx, audio=speech[0])["audio"]
    return out, ctx


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_output_rate_length_and_signal(case, request, encoder_files, speech):
    out, ctx = run(case, request, encoder_files, speech)
    samples = out.mono()
    assert out.sample_rate == case.rate
    assert out.duration == pytest.approx(speech[0].duration, rel=0.03)
    assert np.isfinite(samples).all()
    assert np.sqrt(np.mean(samples ** 2)) > 1e-3
    assert np.abs(samples).max() <= 1.0
    assert set(ctx.info["model_load"]) >= {case.files.split("_")[0], "content_encoder"}


@pytest.mark.parametrize("case", [c for c in CASES if c.f0], ids=lambda c: c.id)
def test_pitch_shift_moves_the_output_pitch(case, request, encoder_files, speech):
    """The tiny f0 models' decoders pass the NSF sine source through, so the output's measured pitch
    is the pitch the pipeline drove them with: +12 semitones must double it."""
    base, _ = run(case, request, encoder_files, speech, 0.0)
    up, _ = run(case, request, encoder_files, speech, 12.0)
    f_base = measured_f0(base.mono(), base.sample_rate)
    source = measured_f0(speech[0].mono(), speech[0].sample_rate)
    assert f_base == pytest.approx(source, rel=0.08)
    assert measured_f0(up.mono(), up.sample_rate) / f_base == pytest.approx(2.0, rel=0.05)
    if case.id in (CASES[0].id, CASES[4].id):
        down, _ = run(case, request, encoder_files, speech, -5.0)
        assert measured_f0(down.mono(), down.sample_rate) / f_base == pytest.approx(2 ** (-5 / 12), rel=0.05)


@pytest.mark.parametrize("case", [CASES[0], CASES[4]], ids=lambda c: c.id)
def test_second_run_is_warm(case, request, encoder_files, speech):
    run(case, request, encoder_files, speech)
    _, ctx = run(case, request, encoder_files, speech)
    loads = ctx.info["model_load"]
    assert all(entry["warm"] for entry in loads.values())


def _truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) * 2 // 3])
    return dst


def _wrong_layout(src: Path, dst: Path) -> Path:
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 3}, dst)
    return dst


def _evil(src: Path, dst: Path) -> Path:
    import os

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo should-not-run > /dev/null",))

    obj = torch.load(src, weights_only=False) if src.is_file() else {}
    obj["info"] = Evil()
    torch.save(obj, dst)
    return dst


BAD = {"truncated": (_truncated, "damaged|truncated|not a readable|cannot load"),
       "wrong-layout": (_wrong_layout, "missing or malformed|not an? "),
       "code-in-pickle": (_evil, r"system.*refusing")}


@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("case", [CASES[0], CASES[4]], ids=lambda c: c.id)
def test_bad_checkpoints_give_clear_errors(case, bad, request, encoder_files, speech, tmp_path):
    files = dict(request.getfixturevalue(case.files))
    make, pattern = BAD[bad]
    broken = make(Path(files[case.key]), tmp_path / f"{bad}.pth")
    config = Path(files[case.key]).parent / "config.json"
    if config.exists():  # so-vits reads the config beside the weights first
        shutil.copy(config, tmp_path / "config.json")
    files[case.key] = broken
    spec = default_registry()[case.node]
    with pytest.raises(CheckpointError, match=pattern) as err:
        spec.call(case.params(files, encoder_files["fairseq"]), audio=speech[0])
    assert broken.name in str(err.value)
