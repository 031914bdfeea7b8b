"""The ONNX Runtime backend (vc.backend): the exported graphs give the torch networks' output through the
whole adapter, are cached by checkpoint content, and anything that fails the check falls back to torch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from haysay.graph_engine.contract import NodeContext, default_registry
from haysay.nodes.vc.backend import BackendError, attach_decoder, attach_encoder
from haysay.nodes.vc.rvc.models import RVCConfig, rvc_synthesizer

from .conftest import TINY_RVC

LSB = 1 / 32768


def convert(node: str, params: dict, audio):
    ctx = NodeContext()
    out = default_registry()[node].call(params, ctx=ctx, audio=audio)["audio"]
    return out.numpy()[0].astype(np.float64), ctx.info[node.split(".")[1]]


def rel_l2(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


CASES = [
    ("vc.rvc", "rvc_files", ("v2", True), {}),                     # layer 12, NSF decoder
    ("vc.rvc", "rvc_files", ("v1", False), {}),                    # layer 9 + final_proj, plain decoder
    ("vc.sovits", "sovits_files", "4.1", {"speaker": "twilight"}),
    # a speaker embedding per frame: the graph's speaker input is as long as the latent
    ("vc.sovits", "sovits_files", "4.1", {"speaker_mix_track": {"nyaru": [[0, 1, 1, 0]],
                                                                 "twilight": [[0, 1, 0, 1]]}}),
]


@pytest.mark.parametrize("node,files,key,extra", CASES, ids=["rvc-v2", "rvc-v1-nof0", "sovits", "sovits-mix"])
def test_onnx_pipeline_equals_torch(node, files, key, extra, request, encoder_files, speech):
    params = {"model": str(request.getfixturevalue(files)[key]), "content_encoder": str(encoder_files["fairseq"]),
              **extra}
    ref, ref_info = convert(node, {**params, "backend": "torch"}, speech[0])
    got, info = convert(node, {**params, "backend": "onnx"}, speech[0])
    again, _ = convert(node, {**params, "backend": "onnx"}, speech[0])
    back, back_info = convert(node, {**params, "backend": "torch"}, speech[0])
    assert ref_info["decoder"]["backend"] == ref_info["content_encoder"]["backend"] == "torch"
    assert info["decoder"]["backend"] == "onnx"
    layers = info["content_encoder"]["layers"]
    assert layers and all(layer["backend"] == "onnx" for layer in layers.values())
    assert got.shape == ref.shape and np.abs(ref).max() > 0.01
    # the upstream-fidelity bounds for a whole pipeline: <= 4 LSB, relL2 < 1e-3 (measured here ~1e-6)
    assert np.abs(got - ref).max() <= 4 * LSB and rel_l2(got, ref) < 1e-4
    assert np.array_equal(again, got)  # a seed gives the same output run after run on the graph too
    assert np.array_equal(back, ref) and back_info["decoder"]["backend"] == "torch"  # the pooled model switches back


def test_auto_is_onnx_on_cpu_and_reuses_the_cached_graph(request, encoder_files, speech, compiled_graphs):
    params = {"model": str(request.getfixturevalue("rvc_files")[("v2", True)]),
              "content_encoder": str(encoder_files["fairseq"]), "pitch_shift": 3.0}
    _, info = convert("vc.rvc", params, speech[0])
    assert info["decoder"]["backend"] == "onnx"
    graph = info["decoder"]["graph"]
    assert graph.startswith(str(compiled_graphs))
    model = rvc_synthesizer(RVCConfig.from_list(TINY_RVC), "v2", True).eval()
    again = attach_decoder(model, "sha256:" + "ab" * 32, "auto")
    assert again["built"] and attach_decoder(model, "sha256:" + "ab" * 32, "auto")["built"] is False


def _two_models():
    torch.manual_seed(10)
    a = rvc_synthesizer(RVCConfig.from_list(TINY_RVC), "v2", True).eval()
    torch.manual_seed(11)
    b = rvc_synthesizer(RVCConfig.from_list(TINY_RVC), "v2", True).eval()
    return a, b


def test_a_graph_that_does_not_match_its_network_is_refused_and_rebuilt():
    a, b = _two_models()
    digest = "sha256:" + "cd" * 32
    assert attach_decoder(a, digest, "auto")["backend"] == "onnx"
    # b under a's key: the cached graph holds a's weights, so the probe check fails
    with pytest.raises(BackendError) as err:
        attach_decoder(b, digest, "onnx")
    assert err.value.field == "backend" and "relL2" in str(err.value)
    attach_decoder(a, digest, "auto")  # rebuild a's graph (the refusal removed it)
    fallback = attach_decoder(b, digest, "auto")
    assert fallback["backend"] == "torch" and "out of tolerance" in fallback["reason"] and b.dec.core is None
    rebuilt = attach_decoder(b, digest, "auto")  # the bad graph was removed: b's own is exported
    assert rebuilt["backend"] == "onnx" and rebuilt["built"] and rebuilt["probe_rel_l2"] < 1e-5


def test_a_damaged_cached_graph_is_exported_again(tiny_encoder):
    a, _ = _two_models()
    digest = "sha256:" + "ef" * 32
    path = attach_decoder(a, digest, "auto")["graph"]
    with open(path, "wb") as f:
        f.write(b"not a graph")
    info = attach_decoder(a, digest, "auto")
    assert info["backend"] == "onnx" and info["built"] and info["probe_rel_l2"] < 1e-5
    with pytest.raises(BackendError, match="backend: 'fast' is not one of"):
        attach_encoder(tiny_encoder, digest, "fast")
