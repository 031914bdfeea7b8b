"""vc.rvc through the engine's streaming path: blocks reach a downstream gain while later segments convert."""
from __future__ import annotations

import numpy as np

from haysay.graph_engine.streaming import stream_chain
from haysay.graph_engine.values import Audio
from haysay.nodes.vc.content.checkpoint import read_content_encoder, save_transformers_folder
from haysay.nodes.vc.rvc.checkpoint import build_rvc_model, read_rvc_checkpoint, save_rvc_checkpoint
from haysay.nodes.vc.rvc.pipeline import RVCOptions
from haysay.nodes.vc.rvc.stream import STREAM_CUTS, STREAM_SETTINGS, stream_rvc


def test_rvc_node_streams_into_a_gain_stage(speech16k, tiny_rvc, tiny_encoder, tmp_path):
    model_path = save_rvc_checkpoint(tmp_path / "tiny_v1.pth", tiny_rvc, "v1")  # the WebUI's export layout
    enc_path = save_transformers_folder(tmp_path / "encoder", tiny_encoder)
    params = {"model": str(model_path), "content_encoder": str(enc_path), "backend": "torch", "index_rate": 0.0}
    heard = []
    events = list(stream_chain([("vc", "vc.rvc", params), ("g", "audio.gain", {"gain_db": -6.0})],
                               {"audio": Audio(speech16k.astype(np.float32)[None], 16000)},
                               listener=lambda e: heard.append((e.node_id, e.index))))
    assert len(events) >= 3 and heard[:2] == [("vc", 0), ("g", 0)] and heard[-1][0] == "g"
    assert heard.index(("g", 0)) < heard.index(("vc", 1))  # played before the next segment was converted
    got = np.concatenate([e.audio.data[0] for e in events])

    ckpt = read_rvc_checkpoint(model_path)  # the same conversion, called directly
    x = speech16k.astype(np.float32).astype(np.float64)  # what the node reads from its float32 input
    want = np.concatenate([b.audio for b in stream_rvc(x, build_rvc_model(ckpt, "cpu"), "v1",
                                                       read_content_encoder(enc_path), RVCOptions(index_rate=0.0),
                                                       settings=STREAM_SETTINGS, cuts=STREAM_CUTS)])
    assert events[0].audio.sample_rate == 40000 and got.size == want.size
    np.testing.assert_allclose(got, want * 10 ** (-6 / 20), rtol=1e-5, atol=1e-7)
