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


def test_end_to_end_matches_upstream_get_tts_wav(gs_files, gs_hubert):
    """data/e2e_upstream.npz: upstream inference_webui.get_tts_wav (commit 48b1a01, CPU fp32) int16 output on
    these files, a 24 kHz float WAV of conftest.voice(rate=24000), after torch.manual_seed(1234), how_to_cut
    凑四句一切 (cut1), top_k=15, top_p=0.8, temperature=0.7, speed=1.25, pause_second=0.3 (see data/README.md)."""
    from haysay.graph_engine.contract import NodeContext, default_registry
    from haysay.graph_engine.values import Audio

    from .conftest import voice

    expected = np.load(DATA / "e2e_upstream.npz")["en_sampled_cut1_speed125"]
    p = {"gpt_weights": str(gs_files[0]), "model": str(gs_files[1]), "content_encoder": str(gs_hubert),
         "prompt_text": "This is the reference voice.", "cut_method": "cut1", "top_k": 15, "top_p": 0.8,
         "temperature": 0.7, "speed": 1.25, "pause_seconds": 0.3, "seed": 1234}
    out = default_registry()["tts.gpt_sovits"].call(
        p, ctx=NodeContext(), text="Hello there, how are you today? We walk to the park. It is a sunny day.",
        reference=Audio.from_mono(voice(rate=24000), 24000))["audio"]
    mine = (out.mono() * 32767).astype(np.int16)
    assert out.sample_rate == 32000 and mine.shape == expected.shape  # same tokens, same speed, same pause
    assert np.array_equal(mine[-9600:], expected[-9600:]) and not mine[-9600:].any()  # the 0.3 s silence
    assert int(np.abs(mine.astype(int) - expected).max()) <= 2  # measured 1 LSB; relL2 5.7e-6
