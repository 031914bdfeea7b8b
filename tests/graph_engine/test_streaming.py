"""graph_engine.streaming: a node's output delivered block by block, through downstream block-wise nodes."""
from __future__ import annotations

import numpy as np
import pytest
from pydantic import BaseModel, Field

from haysay.graph_engine.contract import AUDIO, Registry, default_registry, node
from haysay.graph_engine.errors import InvalidPipeline
from haysay.graph_engine.streaming import node_blocks, stream_chain
from haysay.graph_engine.values import Audio

SR = 16000


class PartsParams(BaseModel):
    parts: int = Field(4, ge=1, title="Parts", description="Blocks the output is delivered in")


@pytest.fixture()
def chain():
    """A registry with a node delivering its input in `parts` blocks (logging each as computed), and gain."""
    reg, log = Registry(), []

    def parts(params, ctx, audio):
        for i, piece in enumerate(np.array_split(audio.data, params.parts, axis=1)):
            log.append(("computed", i))
            yield Audio(piece, audio.sample_rate)

    node("test.parts", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=PartsParams, blocks=parts,
         registry=reg)(lambda params, audio: audio)
    reg.add(default_registry()["audio.gain"])
    return reg, log


def _tone(seconds=1.5, hz=220.0):
    t = np.arange(int(SR * seconds)) / SR
    return Audio((0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)[None], SR)


def test_blocks_reach_a_downstream_node_before_the_head_finishes(chain):
    reg, log = chain
    tone = _tone()
    events = list(stream_chain([("src", "test.parts", {"parts": 4}), ("g", "audio.gain", {"gain_db": -6.0})],
                               {"audio": tone}, listener=lambda e: log.append((e.node_id, e.index)), registry=reg))
    assert log.index(("g", 0)) < log.index(("computed", 1)) < log.index(("g", 1)) < log.index(("computed", 3))
    assert [e.node_id for e in events] == ["g"] * 4 and [e.index for e in events] == [0, 1, 2, 3]
    out = np.concatenate([e.audio.data for e in events], axis=1)
    assert [e.start for e in events] == [0, 6000, 12000, 18000]
    np.testing.assert_allclose(out, tone.data * 10 ** (-6 / 20), rtol=1e-5, atol=1e-7)


def test_a_blockwise_head_is_fed_block_by_block():
    tone = _tone(3.0)
    spec = default_registry()["audio.gain"]
    blocks = list(node_blocks(spec, {"gain_db": 6.0}, {"audio": tone}, block=8000))
    assert [b.frames for b in blocks] == [8000] * 6
    np.testing.assert_allclose(np.concatenate([b.data for b in blocks], axis=1), tone.data * 10 ** (6 / 20), rtol=1e-5)


def test_a_whole_file_node_cannot_follow_a_stream(chain):
    reg, _log = chain
    whole = node("test.whole", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, registry=reg)(lambda params, audio: audio)
    with pytest.raises(InvalidPipeline) as err:
        list(stream_chain([("src", "test.parts", {}), ("w", whole, {})], {"audio": _tone()}, registry=reg))
    assert err.value.errors[0].node == "w" and err.value.errors[0].port == "audio"
    assert "cannot take a stream" in err.value.errors[0].message
