"""Reference timing through NeMo's CTC aligner, against upstream's own code (data/README.md): the
aligner's log-probabilities (padded frames included) and ControllableTalkNet's Viterbi durations."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from haysay.graph_engine.contract import NodeContext, default_registry
from haysay.graph_engine.values import Audio
from haysay.nodes.tts.talknet.aligner import align, backward_extractor, build_aligner, forward_extractor
from haysay.nodes.tts.talknet.archive import read_nemo
from haysay.nodes.vc.resolve import ModelRefError

from .conftest import write_nemo

REF = Path(__file__).parent / "data" / "aligner_reference.npz"


def signal() -> np.ndarray:
    """The recording the reference was made from: a gliding, wobbling harmonic tone plus a 700 Hz partial."""
    t = np.arange(33000) / 22050.0
    return (0.3 * np.sin(2 * np.pi * (120 * t + 40 * t ** 2)) * (1 + np.sin(2 * np.pi * 3 * t))
            + 0.1 * np.sin(2 * np.pi * 700 * t)).astype(np.float32)


@pytest.fixture(scope="module")
def aligner_file(tmp_path_factory) -> Path:
    """The aligner as ModelPT.save_to wrote it (config + state dict, FilterbankFeatures buffers included)."""
    ref = np.load(REF)
    state = {k[6:]: torch.from_numpy(ref[k]) for k in ref.files if k.startswith("state.")}
    return write_nemo(tmp_path_factory.mktemp("aligner") / "asr_talknet_aligner.nemo",
                      yaml.safe_load(str(ref["config"])), state)


def test_log_probs_and_durations_match_upstream(aligner_file):
    ref = np.load(REF)
    archive = read_nemo(aligner_file)
    aligner = build_aligner(archive.config, archive.state, str(aligner_file))
    with torch.no_grad():
        log_probs = aligner(torch.from_numpy(signal())[None]).numpy()
    assert log_probs.shape == ref["log_probs"].shape  # padded to a multiple of 16 frames, as upstream
    assert np.linalg.norm(log_probs - ref["log_probs"]) / np.linalg.norm(ref["log_probs"]) < 1e-5  # measured 0.0
    durs = align(aligner, signal(), 22050, ref["tokens"].tolist())
    assert np.array_equal(durs, ref["durs"]) and durs.sum() == log_probs.shape[0]
    assert np.all(durs[1::2] > 0)  # every token gets a frame; blanks may get none


def test_viterbi_puts_each_token_where_its_probability_is():
    blank, frames = 3, np.full((9, 4), np.log(0.01))
    for t, c in enumerate([0, 0, 3, 1, 1, 1, 3, 2, 2]):
        frames[t, c] = np.log(0.97)
    durs = backward_extractor(*forward_extractor([3, 0, 3, 1, 3, 2, 3], frames, blank))
    assert durs.tolist() == [0, 2, 1, 3, 1, 2, 0]


def test_node_follows_the_aligners_timing(character, aligner_file):
    spec = default_registry()["tts.talknet"]
    ref = Audio.from_mono(signal(), 22050)
    ctx = NodeContext()
    out = spec.call({"model": str(character), "aligner": str(aligner_file), "f0_method": "praat"}, ctx=ctx,
                    text="Hello there.", reference=ref)["audio"]
    assert ctx.info["talknet"]["frames"] == 144 and out.frames == 144 * 256  # the aligner's frames, padding incl.
    with pytest.raises(ModelRefError, match="aligner"):
        spec.call({"model": str(character), "aligner": str(aligner_file)}, ctx=NodeContext(), text="Hello.")
