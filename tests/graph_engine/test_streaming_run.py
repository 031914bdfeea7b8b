"""An engine run of a streaming stage (vc.rvc with stream on): its blocks reach the run's listener while the
stage is still running, and they concatenate to the artifact the run stores."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

from haysay.graph_engine import Engine, Settings, parse_pipeline
from haysay.graph_engine.contract import NodeContext, default_registry
from haysay.graph_engine.streaming import streams
from haysay.graph_engine.values import Audio
from haysay.nodes.vc.content.checkpoint import save_transformers_folder
from haysay.nodes.vc.content.hubert import ContentEncoder, HubertConfig
from haysay.nodes.vc.rvc.checkpoint import save_rvc_checkpoint
from haysay.nodes.vc.rvc.models import RVCConfig, rvc_synthesizer

TINY_CONV = ((32, 10, 5),) + ((32, 3, 2),) * 4 + ((32, 2, 2),) * 2
# RVC's positional config with tiny widths; upsampling 10*10*2*2 = 400 samples per 10 ms frame at 40 kHz
TINY_RVC = [1025, 32, 16, 16, 32, 2, 2, 3, 0, "1", [3, 5], [[1, 3], [1, 3]], [10, 10, 2, 2], 32, [16, 16, 4, 4],
            2, 8, 40000]


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    """A tiny random RVC v1 .pth in the WebUI's export layout, a content encoder folder, and 8 s of speech."""
    from haysay.nodes.tts.espeak import synthesize_espeak

    root = tmp_path_factory.mktemp("tiny_rvc")
    torch.manual_seed(1)
    enc = ContentEncoder(HubertConfig(embed_dim=32, num_layers=12, num_heads=4, ff_dim=64, conv_layers=TINY_CONV,
                                      pos_conv_kernel=16, pos_conv_groups=4, final_proj_dim=256)).eval()
    torch.manual_seed(2)
    model = save_rvc_checkpoint(root / "tiny_v1.pth", rvc_synthesizer(RVCConfig.from_list(TINY_RVC), "v1", True),
                                "v1")
    speech = synthesize_espeak("Hello there, this is a longer test of streaming voice conversion. It keeps going "
                               "for a few sentences, with pauses between them, so the input splits at quiet points.")
    wav = root / "speech.wav"
    soundfile.write(wav, speech.data.T, speech.sample_rate, subtype="FLOAT")
    return model, save_transformers_folder(root / "encoder", enc), wav


def _doc(model, encoder, wav, stream: bool):
    return parse_pipeline({"format": "haysay.pipeline/1", "nodes": [
        {"id": "load", "type": "audio.load", "params": {"path": str(wav)}},
        {"id": "vc", "type": "vc.rvc", "params": {"model": str(model), "content_encoder": str(encoder),
                                                  "backend": "torch", "index_rate": 0.0, "stream": stream}}],
        "edges": [{"from": "load.audio", "to": "vc.audio"}], "outputs": {"out": "vc.audio"}})


def test_a_streaming_stage_delivers_blocks_before_it_is_done(haysay_home, tiny_files):
    model, encoder, wav = tiny_files
    events = []
    with Engine(Settings.from_env()) as eng:
        result = eng.run(_doc(model, encoder, wav, True), on_event=events.append)
        assert result.ok, result.error
        stored = eng.store.open(result.stages["vc"].cache_key)["audio"].numpy()
        whole = eng.run(_doc(model, encoder, wav, False), on_event=events.append)
        assert whole.ok and whole.stages["vc"].cache_key != result.stages["vc"].cache_key
        whole_audio = eng.store.open(whole.stages["vc"].cache_key)["audio"].numpy()
    mine = [e for e in events if e.run_id == result.run_id and e.node == "vc"]
    blocks = [e for e in mine if e.block is not None]
    done_at = next(i for i, e in enumerate(mine) if e.status == "done")
    assert len(blocks) >= 3 and mine.index(blocks[0]) < done_at and all(e.status == "running" for e in blocks)
    assert [b.block.index for b in blocks] == list(range(len(blocks)))
    assert [b.block.start for b in blocks] == list(np.cumsum([0] + [b.block.audio.frames for b in blocks[:-1]]))
    got = np.concatenate([b.block.audio.data for b in blocks], axis=1)
    assert blocks[0].block.audio.sample_rate == 40000 and np.array_equal(got, stored)
    # the run without stream gives no blocks; its whole-file audio is near, not equal (other segment joins)
    assert not any(e.block is not None for e in events if e.run_id == whole.run_id)
    n = min(stored.shape[1], whole_audio.shape[1])
    assert abs(stored.shape[1] - whole_audio.shape[1]) < 40000 * 0.1 and not np.array_equal(stored[:, :n],
                                                                                           whole_audio[:, :n])


def test_the_node_called_whole_with_stream_on_gives_the_streamed_audio(haysay_home, tiny_files):
    model, encoder, wav = tiny_files
    spec = default_registry()["vc.rvc"]
    params = spec.params.model_validate({"model": str(model), "content_encoder": str(encoder), "backend": "torch",
                                         "index_rate": 0.0, "stream": True})
    assert streams(spec, params) and not streams(spec, params.model_copy(update={"stream": False}))
    data, rate = soundfile.read(wav, dtype="float32", always_2d=True)
    audio = Audio(data.T, rate)
    whole = spec.call(params, ctx=NodeContext("vc"), audio=audio)["audio"]
    parts = list(spec.blocks(params, NodeContext("vc"), audio=audio))
    assert len(parts) >= 3 and np.array_equal(whole.data, np.concatenate([p.data for p in parts], axis=1))


def test_blocks_from_a_cluster_worker_process_reach_the_listener(haysay_home, tiny_files):
    """On the Dask cluster (a worker process of its own, as on a real cluster) the blocks travel as worker
    events through the scheduler: in order, before the stage is done, equal to the stored artifact."""
    model, encoder, wav = tiny_files
    events = []
    with Engine(Settings.from_env(), inline=False, processes=True) as eng:
        result = eng.run(_doc(model, encoder, wav, True), on_event=events.append)
        assert result.ok, result.error
        assert result.stages["vc"].worker and result.stages["vc"].worker.startswith("tcp://")
        stored = eng.store.open(result.stages["vc"].cache_key)["audio"].numpy()
    mine = [e for e in events if e.node == "vc"]
    blocks = [e for e in mine if e.block is not None]
    assert len(blocks) >= 3 and mine.index(blocks[0]) < next(i for i, e in enumerate(mine) if e.status == "done")
    assert [b.block.index for b in blocks] == list(range(len(blocks)))
    assert np.array_equal(np.concatenate([b.block.audio.data for b in blocks], axis=1), stored)


def test_a_notebook_stream_player_fed_by_the_run_holds_the_stage_output(haysay_home, tiny_files):
    pytest.importorskip("anywidget")
    from haysay.studio.notebook import StreamPlayer

    model, encoder, wav = tiny_files
    player = StreamPlayer("vc")
    sent = []
    player.send = lambda content, buffers=None: sent.append((content, buffers))
    with Engine(Settings.from_env()) as eng:
        result = eng.run(_doc(model, encoder, wav, True), on_event=player)
        assert result.ok, result.error
        stored = eng.store.open(result.stages["vc"].cache_key)["audio"].numpy()
    assert len(player.blocks) >= 3 and player.done and np.array_equal(player.audio.data, stored)
    assert [c["index"] for c, _ in sent] == list(range(len(player.blocks)))
    pages = [np.frombuffer(b[0], np.float32).reshape(c["channels"], c["frames"]) for c, b in sent]
    assert sent[0][0]["rate"] == 40000 and np.array_equal(np.concatenate(pages, axis=1), stored)
