"""Tiny random-weight RVC v1 (pitch-guided) and content encoder, and 8 s of espeak-ng speech at 16 kHz."""
from __future__ import annotations

import numpy as np
import pytest
import soxr
import torch

from haysay.nodes.vc.content.hubert import ContentEncoder, HubertConfig
from haysay.nodes.vc.rvc.models import RVCConfig, rvc_synthesizer

TINY_CONV = ((32, 10, 5),) + ((32, 3, 2),) * 4 + ((32, 2, 2),) * 2
# RVC's positional config with tiny widths; upsampling 10*10*2*2 = 400 samples per 10 ms frame at 40 kHz.
TINY_RVC = [1025, 32, 16, 16, 32, 2, 2, 3, 0, "1", [3, 5], [[1, 3], [1, 3]], [10, 10, 2, 2], 32, [16, 16, 4, 4],
            2, 8, 40000]


@pytest.fixture(scope="session")
def speech16k() -> np.ndarray:
    """About 8 s of espeak-ng speech, resampled to 16 kHz."""
    from haysay.nodes.tts.espeak import synthesize_espeak

    audio = synthesize_espeak("Hello there, this is a longer test of streaming voice conversion. It keeps going "
                              "for a few sentences, with pauses between them, so the input splits at quiet points.")
    x = soxr.resample(audio.mono().astype(np.float64), audio.sample_rate, 16000)
    assert 6.0 < x.size / 16000 < 12.0
    return x


@pytest.fixture(scope="session")
def tiny_encoder() -> ContentEncoder:
    torch.manual_seed(1)
    return ContentEncoder(HubertConfig(embed_dim=32, num_layers=12, num_heads=4, ff_dim=64, conv_layers=TINY_CONV,
                                       pos_conv_kernel=16, pos_conv_groups=4, final_proj_dim=256)).eval()


@pytest.fixture(scope="session")
def tiny_rvc():
    torch.manual_seed(2)
    return rvc_synthesizer(RVCConfig.from_list(TINY_RVC), "v1", True).eval()
