"""vc.openvoice's reference segmenting, as upstream se_extractor.get_se(vad=True) does it: silero speech
timestamps (whisper-timestamped's get_vad_segments settings: 100 ms speech, 1 s silence, 0.5 s widening),
the speech joined, then cut into split_seconds pieces whose embeddings are averaged."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soxr
import torch

from haysay.graph_engine.contract import default_registry
from haysay.graph_engine.values import Audio
from haysay.nodes.vc.openvoice.checkpoint import build_openvoice_model, read_openvoice_checkpoint
from haysay.nodes.vc.openvoice.convert import extract_embedding, split_chunks, speech_only, vad_segments

pytest.importorskip("silero_vad")
pytest.importorskip("onnxruntime")

CONVERTER = Path(__file__).resolve().parents[3] / "fixtures" / "openvoice" / "converter"
RATE = 22050
GAP_S = 3.0


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    from haysay.nodes.tts.espeak import synthesize_espeak

    audio = synthesize_espeak("The quick brown fox jumps over the lazy dog.")
    return soxr.resample(audio.mono().astype(np.float64), audio.sample_rate, RATE).astype(np.float32)


def _gappy(speech: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Speech twice between 3 s gaps of low noise (and a hum): where the speech lies, in samples."""
    rng = np.random.default_rng(0)
    gap = int(GAP_S * RATE)
    t = np.arange(gap) / RATE

    def noise():
        return (0.05 * rng.standard_normal(gap) + 0.02 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)

    parts, spans, at = [noise()], [], gap
    for _ in range(2):
        parts += [speech, noise()]
        spans.append((at, at + len(speech)))
        at += len(speech) + gap
    return np.concatenate(parts), spans


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0))


def test_segments_are_silero_timestamps_widened_as_upstream(speech):
    from silero_vad import get_speech_timestamps, load_silero_vad

    x, spans = _gappy(speech)
    x16 = soxr.resample(x.astype(np.float64), RATE, 16000).astype(np.float32)
    got = vad_segments(x16)
    peak = max(0.1, float(np.abs(x16).max()))
    raw = get_speech_timestamps(torch.from_numpy(x16 / peak), load_silero_vad(onnx=True), sampling_rate=16000,
                                min_speech_duration_ms=100, min_silence_duration_ms=1000)
    assert len(raw) >= 2
    # gaps of 3 s: no widened segments touch, so each is silero's, 8000 samples wider each side
    want = np.array([[max(0, r["start"] - 8000), min(len(x16), r["end"] + 8000)] for r in raw]) / 16000
    np.testing.assert_allclose(got, want, atol=1e-9)
    for a, b in spans:  # every stretch of speech is kept
        assert any(s <= a / RATE + 0.05 and e >= b / RATE - 0.05 for s, e in got)
    kept = speech_only(x, RATE, got)
    assert len(kept) < len(x) - 1.5 * GAP_S * RATE  # most of the 9 s of gaps is gone


def averaging(model):
    """The fixture converter's ref_enc with its GRU made a running average (update gate 0.95, no recurrent
    weights) and no projection bias: random weights otherwise keep little but the last of the ~0.74 s GRU
    steps, so its embedding says more about where a chunk ends than about the voice in it."""
    gru, hidden = model.ref_enc.gru, model.ref_enc.gru.hidden_size
    with torch.no_grad():
        gru.weight_hh_l0.zero_()
        gru.bias_hh_l0.zero_()
        gru.weight_ih_l0[hidden:2 * hidden].zero_()
        gru.bias_ih_l0.zero_()
        gru.bias_ih_l0[hidden:2 * hidden] = float(np.log(0.95 / 0.05))
        model.ref_enc.proj.bias.zero_()
    return model


def test_vad_embedding_is_closer_to_the_clean_speech_embedding(speech):
    model = averaging(build_openvoice_model(read_openvoice_checkpoint(CONVERTER / "checkpoint.pth")))
    x, spans = _gappy(speech)
    clean = np.concatenate([x[a:b] for a, b in spans])
    split = 10.0  # upstream's: one piece of clean speech, two of the whole clip
    ref = extract_embedding(model, split_chunks(clean, RATE, split))
    whole = extract_embedding(model, split_chunks(x, RATE, split))
    x16 = soxr.resample(x.astype(np.float64), RATE, 16000).astype(np.float32)
    vad = extract_embedding(model, split_chunks(speech_only(x, RATE, vad_segments(x16)), RATE, split))
    on, off = _cos(vad, ref), _cos(whole, ref)
    # the embeddings share a large common part (random weights), so compare the cosine distances:
    # measured 1.7e-4 with VAD against 5.2e-4 without
    assert (1 - on) < 0.5 * (1 - off), (on, off)


def test_node_vad_param_changes_the_target_and_reports_segments(speech):
    from haysay.graph_engine.contract import NodeContext

    spec = default_registry()["vc.openvoice"]
    assert spec.params(model="x").vad is True  # upstream get_se's default
    x, spans = _gappy(speech)
    src, ref = Audio(speech[None], RATE), Audio(x[None], RATE)
    params = {"model": str(CONVERTER), "split_seconds": 2.0}
    ctx, ctx_off = NodeContext(), NodeContext()
    spec.call({**params, "vad": True}, ctx=ctx, audio=src, reference=ref)
    spec.call({**params, "vad": False}, ctx=ctx_off, audio=src, reference=ref)
    assert "vad_segments_s" not in ctx_off.info["openvoice"]
    found = ctx.info["openvoice"]["vad_segments_s"]["reference audio"]
    assert len(found) == len(spans) and all(s < a / RATE < b / RATE < e for (s, e), (a, b) in zip(found, spans))
    hum = Audio((0.003 * np.sin(2 * np.pi * 50 * np.arange(2 * RATE) / RATE))[None].astype(np.float32), RATE)
    ctx = NodeContext()
    spec.call(params, ctx=ctx, audio=src, reference=hum)
    assert ctx.info["openvoice"]["vad_segments_s"]["reference audio"] == "no speech found: embedded whole"
