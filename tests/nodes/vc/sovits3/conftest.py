"""so-vits-svc 3.0 model folders (32k and 48k) in upstream's file layout, and a tiny HuBERT-Soft file.

G_*.pth is the dict upstream 3.0's `utils.save_checkpoint` writes ({"model": state dict with weight-norm
g/v pairs, "iteration", "optimizer", "learning_rate"}) and config.json the template its
`preprocess_flist_config.py` writes, via haysay's `save_sovits_files(..., version="3.0")`.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from haysay.nodes.vc.content.hubert import HubertConfig
from haysay.nodes.vc.content.soft import SoftHubert, encoder_state_to_soft
from haysay.nodes.vc.sovits.checkpoint import save_sovits_files
from haysay.nodes.vc.sovits.config import SovitsConfig
from haysay.nodes.vc.sovits.models_v3 import SovitsV3Synthesizer

from ..adapters.conftest import TINY_CONV, make_source_transparent, measured_f0  # noqa: F401  (re-exported)

SPEAKERS = {"nen": 0, "paimon": 1, "yunhao": 2}


def tiny_v3(rate: int) -> SovitsV3Synthesizer:
    """3.0's decoder and 192/256 widths are fixed upstream; the prior encoder and flow are narrow here."""
    torch.manual_seed(7)
    cfg = SovitsConfig(inter_channels=192, hidden_channels=32, filter_channels=48, n_heads=2, gin_channels=256,
                       ssl_dim=256, n_speakers=3, sampling_rate=rate, use_automatic_f0_prediction=False,
                       speakers=dict(SPEAKERS))
    model = SovitsV3Synthesizer(cfg).eval()
    make_source_transparent(model.dec)
    return model


@pytest.fixture(scope="session")
def v3_files(tmp_path_factory) -> dict[int, torch.Tensor]:
    root = tmp_path_factory.mktemp("sovits3")
    return {rate: save_sovits_files(root / str(rate), tiny_v3(rate), version="3.0")[0] for rate in (32000, 48000)}


@pytest.fixture(scope="session")
def soft_file(tmp_path_factory):
    """bshall/hubert v0.1's layout (hubert-soft-0d54a1f4.pt): a bare DDP state dict."""
    torch.manual_seed(11)
    soft = SoftHubert(HubertConfig(embed_dim=48, num_layers=2, num_heads=12, ff_dim=32, conv_layers=TINY_CONV,
                                   pos_conv_kernel=16, pos_conv_groups=4, final_proj_dim=256)).eval()
    state = encoder_state_to_soft(soft)
    state["label_embedding.weight"] = torch.randn(100, 256)
    path = tmp_path_factory.mktemp("soft") / "hubert-soft-0d54a1f4.pt"
    torch.save({"module." + k: v for k, v in state.items()}, path)
    return path


@pytest.fixture(scope="session")
def tone():
    """1.2 s of a 200 Hz harmonic tone at 16 kHz (as an Audio)."""
    from haysay.graph_engine.values import Audio

    t = np.arange(int(1.2 * 16000)) / 16000
    x = sum(0.3 / k * np.sin(2 * np.pi * 200 * k * t) for k in range(1, 6))
    return Audio(x[None].astype(np.float32), 16000)
