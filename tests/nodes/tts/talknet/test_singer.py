"""ControllableTalkNet's TalkNetSingerModel (core/talknet_singer.py) against upstream's own code
(data/README.md): the absolute pitch reaches the spectrogram, so a pitch shift changes it."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch
import yaml

from haysay.graph_engine.contract import NodeContext, default_registry
from haysay.nodes.tts.talknet import synthesis
from haysay.nodes.tts.talknet.archive import read_nemo
from haysay.nodes.tts.talknet.models import build_talknet, interleave_blanks

from .conftest import write_nemo

REF = Path(__file__).parent / "data" / "singer_reference.npz"


def _singer(folder: Path) -> Path:
    """The singer .nemo as ModelPT.save_to wrote it (featurizer buffers restored)."""
    ref = np.load(REF)
    state = {k[6:]: torch.from_numpy(ref[k]) for k in ref.files if k.startswith("state.")}
    state["preprocessor.featurizer.window"] = torch.hann_window(1024)
    state["preprocessor.featurizer.fb"] = torch.zeros(1, 80, 513)
    return write_nemo(folder / "TalkNetSinger.nemo", yaml.safe_load(str(ref["config"])), state)


def test_singer_spectrogram_matches_upstream(tmp_path):
    ref = np.load(REF)
    path = _singer(tmp_path)
    archive = read_nemo(path)
    net, vocab, _ = build_talknet("singer", archive.config, archive.state, str(path))
    tokens = interleave_blanks(torch.tensor(ref["ids"]), vocab.blank)[None]
    durs, f0 = torch.from_numpy(ref["durs"]), torch.from_numpy(ref["f0"])
    with torch.no_grad():
        mel = net(tokens, durs, f0).numpy()
        shifted = net(tokens, durs, f0 * 2 ** (5 / 12)).numpy()
    for got, want in ((mel, ref["mel"]), (shifted, ref["mel_shifted"])):
        assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-5
    assert np.abs(mel - shifted).mean() > 0.01  # unlike the speech model, pitch moves the spectrogram


def test_a_singer_beside_the_spect_model_is_used(character, tmp_path):
    folder = tmp_path / "singing"
    shutil.copytree(character, folder)
    _singer(folder)
    ctx = NodeContext()
    out = default_registry()["tts.talknet"].call({"model": str(folder)}, ctx=ctx, text="la la la")["audio"]
    assert ctx.info["talknet"]["singer"] is True and out.sample_rate == 22050
    voice = synthesis.load_voice(folder / "TalkNetSpect.nemo")
    assert type(voice.spect).__name__ == "TalkNetSinger"
    # without a reference the pitch shift goes into the singer's f0: the spectrogram changes
    from haysay.nodes.tts.talknet import frontend

    ids = frontend.tokens("la la la", voice.vocab)
    mel, _, f0 = synthesis.spectrogram(voice, ids)
    up, _, f0_up = synthesis.spectrogram(voice, ids, f0_factor=2 ** (3 / 12))
    voiced = f0 > 0
    assert torch.allclose(f0_up[voiced] / f0[voiced], torch.tensor(2 ** (3 / 12)))
    assert (mel - up).abs().mean() > 0.01
    from haysay.graph_engine.models import detect

    assert detect(folder).roles["TalkNetSinger.nemo"] == "singer"
