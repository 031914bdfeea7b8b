"""Exported ONNX graphs (vc.backend) go to one folder per test session, never the user's HAYSAY_HOME; tiny
so-vits-svc 5.0 models and content encoders in their upstream file layouts (sovits5/ and adapters/ use them)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

SOVITS5_DATA = Path(__file__).parent / "sovits5" / "data"
TINY_CONV = ((32, 10, 5),) + ((32, 3, 2),) * 4 + ((32, 2, 2),) * 2


@pytest.fixture(scope="session", autouse=True)
def compiled_graphs(tmp_path_factory):
    path = tmp_path_factory.mktemp("compiled")
    old = os.environ.get("HAYSAY_COMPILED")
    os.environ["HAYSAY_COMPILED"] = str(path)
    yield path
    if old is None:
        os.environ.pop("HAYSAY_COMPILED", None)
    else:
        os.environ["HAYSAY_COMPILED"] = old


@pytest.fixture(scope="session")
def sovits5_files(tmp_path_factory) -> dict[str, Path]:
    """data/sovits5.0.pth (upstream svc_export.save_model) in a model folder with its config.yaml beside it."""
    root = tmp_path_factory.mktemp("sovits5_model")
    shutil.copy(SOVITS5_DATA / "small.yaml", root / "config.yaml")
    return {"5.0": Path(shutil.copy(SOVITS5_DATA / "sovits5.0.pth", root / "sovits5.0.pth"))}


@pytest.fixture(scope="session")
def encoders(tmp_path_factory) -> dict[str, Path]:
    """A Whisper checkpoint in openai-whisper's layout ({'dims', 'model_state_dict'} with encoder. and decoder.
    keys, fp16) of width 32 (the fixture model's ppg_dim) and a HuBERT-Soft one in bshall's v0.1 layout (bare
    DDP state dict, 'module.' keys) with 16-d units (its vec_dim)."""
    from haysay.nodes.vc.content.hubert import HubertConfig
    from haysay.nodes.vc.content.soft import SoftHubert, encoder_state_to_soft
    from haysay.nodes.vc.content.whisper import WhisperDims, WhisperEncoder

    root = tmp_path_factory.mktemp("sovits5_encoders")
    torch.manual_seed(21)
    whisper = WhisperEncoder(WhisperDims(n_mels=80, n_audio_ctx=1500, n_audio_state=32, n_audio_head=2,
                                         n_audio_layer=4))
    state = {"encoder." + k: v.half() for k, v in whisper.state_dict().items()}
    state["decoder.token_embedding.weight"] = torch.zeros(10, 32, dtype=torch.half)
    dims = {"n_mels": 80, "n_vocab": 10, "n_audio_ctx": 1500, "n_audio_state": 32, "n_audio_head": 2,
            "n_audio_layer": 4, "n_text_ctx": 8, "n_text_state": 32, "n_text_head": 2, "n_text_layer": 1}
    torch.save({"dims": dims, "model_state_dict": state}, root / "large-v2.pt")
    torch.manual_seed(22)
    soft = SoftHubert(HubertConfig(embed_dim=48, num_layers=2, num_heads=12, ff_dim=32, conv_layers=TINY_CONV,
                                   pos_conv_kernel=16, pos_conv_groups=4, final_proj_dim=16))
    torch.save({"module." + k: v for k, v in encoder_state_to_soft(soft).items()}, root / "hubert-soft-0d54a1f4.pt")
    return {"whisper": root / "large-v2.pt", "hubert": root / "hubert-soft-0d54a1f4.pt"}


@pytest.fixture(scope="session")
def speakers(tmp_path_factory) -> tuple[Path, Path]:
    """Two speaker embeddings as upstream's prepare/preprocess_speaker.py np.save's them (float32 vector)."""
    root = tmp_path_factory.mktemp("sovits5_speakers")
    g = np.random.default_rng(3)
    paths = (root / "a.spk.npy", root / "b.spk.npy")
    for p in paths:
        np.save(p, g.standard_normal(16).astype(np.float32), allow_pickle=False)
    return paths
