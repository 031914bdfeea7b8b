"""haysay's GPT-SoVITS v2 networks against upstream's outputs (data/parity.npz, made by upstream's own
Text2SemanticDecoder.infer_panel and SynthesizerTrn.extract_latent/decode on the same tiny weights)."""
from __future__ import annotations

import numpy as np
import torch

from .conftest import DATA, parity_inputs
from haysay.nodes.tts.gpt_sovits.checkpoint import read_gpt, read_sovits
from haysay.nodes.tts.gpt_sovits.frontend import phone_ids
from haysay.nodes.tts.gpt_sovits.models import linear_spectrogram


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_matches_upstream(gs_files):
    ref = np.load(DATA / "parity.npz")
    t2s, vq = read_gpt(gs_files[0]), read_sovits(gs_files[1])
    assert phone_ids("This is the reference.", "en") == ref["phones1"].tolist()
    ssl, audio = parity_inputs()
    prompt = vq.extract_latent(ssl)
    assert prompt.tolist() == ref["prompt"].tolist()
    ids = torch.tensor([ref["phones1"].tolist() + ref["phones2"].tolist()])
    tokens, eos = t2s.infer(ids, prompt, torch.zeros(1, 1024, ids.shape[1]), top_k=1, top_p=1.0, temperature=1.0,
                            early_stop_num=50 * 54)
    assert eos and tokens.tolist() == ref["semantic"].tolist()  # greedy: the same 120 tokens, ended by EOS
    # sampling: upstream seeded torch (manual_seed(1234)) and drew from the global generator; the same
    # exponential-race draws from a generator seeded alike give the same 154 tokens
    sampled, eos = t2s.infer(ids, prompt, torch.zeros(1, 1024, ids.shape[1]), top_k=15, top_p=0.8, temperature=0.7,
                             early_stop_num=50 * 54, generator=torch.Generator().manual_seed(1234))
    assert eos and sampled.tolist() == ref["sampled"].tolist()
    # an early stop (early_stop_num=30): upstream's [:, -idx:] slice with a prompt, all tokens without one
    early, eos = t2s.infer(ids, prompt, torch.zeros(1, 1024, ids.shape[1]), top_k=1, early_stop_num=30)
    assert not eos and early.tolist() == ref["early"].tolist()
    phones2 = torch.tensor([ref["phones2"].tolist()])
    free, eos = t2s.infer(phones2, None, torch.zeros(1, 1024, phones2.shape[1]), top_k=1, early_stop_num=30)
    assert free.tolist() == ref["free"].tolist()
    spec = linear_spectrogram(torch.from_numpy(audio)[None], vq.cfg)
    assert rel(spec[:, :, :8].numpy(), ref["spec_head"]) < 1e-5
    for speed, key in ((1.0, "audio"), (1.25, "audio_speed125")):
        out = vq.decode(tokens, torch.tensor([ref["phones2"].tolist()]), spec, speed=speed,
                        generator=torch.Generator().manual_seed(0))[0, 0].numpy()
        expected = ref[key].astype(np.float32)
        assert out.shape == expected.shape
        assert rel(out, expected) < 2e-3  # measured 1.6e-4 (the reference is stored as float16)
