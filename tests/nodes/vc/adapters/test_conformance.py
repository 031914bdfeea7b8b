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
from haysay.nodes.vc.resolve import ModelRefError
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
    # (param field, fixture, key or None for the fixture itself): the content encoders and other files the node reads
    refs: tuple = (("content_encoder", "encoder_files", "fairseq"),)
    loads: tuple = ("content_encoder",)  # model_load entries besides the model's own

    def params(self, files: dict, fixture: Callable[[str], object], shift: float = 0.0, **more) -> dict:
        refs = {field: str(fixture(name) if key is None else fixture(name)[key]) for field, name, key in self.refs}
        control = {self.shift_field: shift} if self.shift_field else {}  # OpenVoice has no pitch control
        return {"model": str(files[self.key]), **refs, **control, **self.extra, **more}


SOFT = (("content_encoder", "soft_file", None),)
CASES = [
    Case("rvc-v2-f0", "vc.rvc", "rvc_files", ("v2", True), 40000, True, "pitch_shift", {}),
    Case("rvc-v1-f0", "vc.rvc", "rvc_files", ("v1", True), 40000, True, "pitch_shift", {}),
    Case("rvc-v2-nof0", "vc.rvc", "rvc_files", ("v2", False), 40000, False, "pitch_shift", {}),
    Case("rvc-v1-nof0", "vc.rvc", "rvc_files", ("v1", False), 40000, False, "pitch_shift", {}),
    Case("sovits-4.1", "vc.sovits", "sovits_files", "4.1", 44100, True, "transpose", {"speaker": "twilight"}),
    Case("sovits-4.0", "vc.sovits", "sovits_files", "4.0", 44100, True, "transpose", {}),
    Case("sovits-3.0-32k", "vc.sovits", "v3_files", 32000, 32000, True, "transpose", {"speaker": "paimon"},
         SOFT, ("speech_encoder.hubert_soft",)),
    Case("sovits-3.0-48k", "vc.sovits", "v3_files", 48000, 48000, True, "transpose", {}, SOFT,
         ("speech_encoder.hubert_soft",)),
    Case("sovits-5.0", "vc.sovits5", "sovits5_files", "5.0", 32000, True, "shift", {},
         (("whisper_encoder", "encoders", "whisper"), ("hubert_encoder", "encoders", "hubert"),
          ("speaker", "speakers", 0)), ("whisper-ppg-large", "hubertsoft")),
    # upstream-written converter (tests/fixtures/openvoice/README.md); the target voice is the embedding
    # upstream's extract_se saved; no pitch control (tau is the voice control, measured in its own tests)
    Case("openvoice-v2", "vc.openvoice", "openvoice_files", "v2", 22050, False, "", {"vad": False},
         (("target_embedding", "openvoice_files", "target"),), ()),
]
BY_ID = {c.id: c for c in CASES}


def run(case: Case, request, speech, shift: float = 0.0, **more):
    files = request.getfixturevalue(case.files)
    spec = default_registry()[case.node]
    ctx = NodeContext()
    out = spec.call(case.params(files, request.getfixturevalue, shift, **more), ctx=ctx, audio=speech[0])["audio"]
    return out, ctx


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_output_rate_length_and_signal(case, request, speech):
    out, ctx = run(case, request, speech)
    samples = out.mono()
    assert out.sample_rate == case.rate
    assert out.duration == pytest.approx(speech[0].duration, rel=0.03)
    assert np.isfinite(samples).all()
    assert np.sqrt(np.mean(samples ** 2)) > 1e-3
    assert np.abs(samples).max() <= 1.0
    assert set(ctx.info["model_load"]) >= {case.node.split(".")[1], *case.loads}


# so-vits 5.0 is left out: its fixture is upstream's own export (random weights, no transparent decoder),
# whose output is dominated by its 100 Hz frame rate rather than the f0 it is driven with. The sovits5 tests
# check the pitch instead: test_node_converts_speech_at_32k (the track follows the input, shift 12 doubles it)
# and test_speaker_embedding_and_pitch_move_the_output (the decoder's output follows a 150 vs 300 Hz track).
@pytest.mark.parametrize("case", [c for c in CASES if c.f0 and c.node != "vc.sovits5"], ids=lambda c: c.id)
def test_pitch_shift_moves_the_output_pitch(case, request, speech):
    """The tiny f0 models' decoders pass the NSF sine source through, so the output's measured pitch
    is the pitch the pipeline drove them with: +12 semitones must double it."""
    base, _ = run(case, request, speech, 0.0)
    up, _ = run(case, request, speech, 12.0)
    f_base = measured_f0(base.mono(), base.sample_rate)
    source = measured_f0(speech[0].mono(), speech[0].sample_rate)
    assert f_base == pytest.approx(source, rel=0.08)
    assert measured_f0(up.mono(), up.sample_rate) / f_base == pytest.approx(2.0, rel=0.05)
    if case.id in ("rvc-v2-f0", "sovits-4.1"):
        down, _ = run(case, request, speech, -5.0)
        assert measured_f0(down.mono(), down.sample_rate) / f_base == pytest.approx(2 ** (-5 / 12), rel=0.05)


@pytest.mark.parametrize("case", [BY_ID["rvc-v2-f0"], BY_ID["sovits-4.1"]], ids=lambda c: c.id)
def test_second_run_is_warm(case, request, speech):
    run(case, request, speech)
    _, ctx = run(case, request, speech)
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
@pytest.mark.parametrize("case", [BY_ID[i] for i in ("rvc-v2-f0", "sovits-4.1", "sovits-3.0-32k", "sovits-5.0",
                                                    "openvoice-v2")], ids=lambda c: c.id)
def test_bad_checkpoints_give_clear_errors(case, bad, request, speech, tmp_path):
    files = dict(request.getfixturevalue(case.files))
    make, pattern = BAD[bad]
    broken = make(Path(files[case.key]), tmp_path / f"{bad}.pth")
    for config in Path(files[case.key]).parent.glob("config.*"):  # so-vits reads the config beside the weights first
        shutil.copy(config, tmp_path / config.name)
    files[case.key] = broken
    spec = default_registry()[case.node]
    # vc.sovits5 reports a bad file as a field error on "model" (name and problem, no server path)
    with pytest.raises((CheckpointError, ModelRefError), match=pattern) as err:
        spec.call(case.params(files, request.getfixturevalue), audio=speech[0])
    assert broken.name in str(err.value)
    assert getattr(err.value, "field", "model") == "model"
