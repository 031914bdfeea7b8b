"""The notebook StreamPlayer's kernel side: blocks kept and sent at once as float32 comm buffers, a page
that asks (reloaded) sent them all again, events of other nodes ignored, the stream marked done by its
node's 'done'."""
import numpy as np
import pytest

from haysay.graph_engine.engine import StageEvent
from haysay.graph_engine.streaming import BlockEvent
from haysay.graph_engine.values import Audio


def blocks(n=4, frames=1000, rate=16000):
    t = np.arange(n * frames) / rate
    wave = np.stack([0.5 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 330 * t)]).astype(np.float32)
    return wave, [BlockEvent("vc", i, i * frames, Audio(wave[:, i * frames:(i + 1) * frames], rate)) for i in range(n)]


def test_each_block_is_sent_as_it_comes_and_again_to_a_page_that_asks():
    pytest.importorskip("anywidget")
    from haysay.studio.notebook import StreamPlayer

    wave, parts = blocks()
    player = StreamPlayer("vc")
    sent = []
    player.send = lambda content, buffers=None: sent.append((content, buffers))
    player(StageEvent("run", "vc", "running", None, "", parts[0]))
    player(StageEvent("run", "other", "running", None, "", parts[1]))  # another node's: not this player's
    assert [c["index"] for c, _ in sent] == [0] and len(player.blocks) == 1
    player._on_msg(player, {"ready": "yes"}, [])  # junk is ignored
    assert len(sent) == 1
    for part in parts[1:]:
        player(StageEvent("run", "vc", "running", None, "", part))
    assert not player.done
    player(StageEvent("run", "vc", "done", 1.0))
    assert player.done
    assert [c["index"] for c, _ in sent] == [0, 1, 2, 3]
    assert sent[1][0] == {"kind": "block", "index": 1, "start": 1000, "rate": 16000, "channels": 2, "frames": 1000}
    got = np.concatenate([np.frombuffer(b[0], np.float32).reshape(2, -1) for _, b in sent], axis=1)
    assert np.array_equal(got, wave) and np.array_equal(player.audio.data, wave)
    player._on_msg(player, {"ready": True}, [])  # a reloaded page: everything again (it skips duplicates)
    assert [c["index"] for c, _ in sent[4:]] == [0, 1, 2, 3]


def test_a_block_out_of_order_is_refused():
    pytest.importorskip("anywidget")
    from haysay.studio.notebook import StreamPlayer

    _, parts = blocks()
    player = StreamPlayer()
    player.feed(parts[0])
    with pytest.raises(ValueError, match="block 2 arrived where block 1 was due"):
        player.feed(parts[2])
    assert player.audio.frames == 1000 and StreamPlayer().audio is None
