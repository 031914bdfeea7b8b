"""so-vits-svc's NSF-HiFiGAN enhancer (`Svc.infer`'s `enhance` / `enhancer_adaptive_key`).

Measured against upstream 4.1-Stable itself (outside CI): upstream's `modules.enhancer.Enhancer` over a
random-weight NSF-HiFiGAN saved in upstream's layout, and `enhance` over the same file, torch.rand/randn
patched to zeros or shape-keyed draws in both, a 220 Hz tone with an unvoiced gap. relL2 haysay vs
upstream: 44.1 kHz input, key 0: 3.4e-8; key 4: 5.2e-8; 32 kHz input at hop 320, key 2: 5.1e-8.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from haysay.nodes.vc.sovits.enhancer import enhance, load_enhancer

SR, HOP = 44100, 512


def _case(rate: int = SR, hop: int = HOP, seconds: float = 0.6):
    t = np.arange(int(seconds * rate)) / rate
    audio = torch.from_numpy((0.4 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))[None]
    f0 = torch.full((1, audio.shape[1] // hop), 220.0)
    f0[:, 10:14] = 0.0
    return audio, f0


@pytest.fixture(scope="module")
def enhancer(nsf_folder):
    return load_enhancer(nsf_folder)


def test_output_rate_length_and_determinism(enhancer):
    audio, f0 = _case()
    a, rate = enhance(enhancer, audio, SR, f0, HOP, generator=torch.Generator().manual_seed(0))
    b, _ = enhance(enhancer, audio, SR, f0, HOP, generator=torch.Generator().manual_seed(0))
    assert rate == SR and a.dim() == 1 and abs(a.shape[0] - audio.shape[1]) <= 64
    assert torch.equal(a, b) and float(a.std()) > 1e-3


def test_other_model_rates_come_back_at_the_vocoder_rate(enhancer):
    audio, f0 = _case(32000, 320)
    out, rate = enhance(enhancer, audio, 32000, f0, 320, generator=torch.Generator().manual_seed(0))
    assert rate == SR and abs(out.shape[0] - round(audio.shape[1] * SR / 32000)) <= 2 * 64


def test_adaptive_key_changes_the_result_but_not_the_duration(enhancer):
    audio, f0 = _case()
    base, _ = enhance(enhancer, audio, SR, f0, HOP, 0, generator=torch.Generator().manual_seed(0))
    up, rate = enhance(enhancer, audio, SR, f0, HOP, 4, generator=torch.Generator().manual_seed(0))
    assert rate == SR and abs(up.shape[0] - base.shape[0]) <= 3 * 64
    n = min(up.shape[0], base.shape[0])
    assert float((up[:n] - base[:n]).norm() / base[:n].norm()) > 0.05


def test_silence_front_is_skipped_and_returned_silent(enhancer):
    audio, f0 = _case()
    out, _ = enhance(enhancer, audio, SR, f0, HOP, silence_front=0.1, generator=torch.Generator().manual_seed(0))
    skipped = int(np.round(int(0.1 * SR / HOP) * HOP / SR * SR))
    assert torch.all(out[:skipped] == 0) and float(out[skipped:].abs().max()) > 0
    assert abs(out.shape[0] - audio.shape[1]) <= 64
