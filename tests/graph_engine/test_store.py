"""Artifact store: chunked audio, value types, atomic writes, crash safety."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from haysay.graph_engine.store import CHUNK_FRAMES, ArtifactMissing, ArtifactStore
from haysay.graph_engine.values import F0, Audio, Features

KEY = "a1" * 32


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path):
    if request.param == "local":
        return ArtifactStore(tmp_path / "arts")
    return ArtifactStore(f"memory://haysay-test-{tmp_path.name}")


def test_values_round_trip(store):
    rng = np.random.default_rng(1)
    audio = Audio(rng.uniform(-1, 1, (2, CHUNK_FRAMES + 123)).astype(np.float32), 44100)
    w = store.writer(KEY)
    w.commit({"audio": audio, "text": "héllo", "f0": F0([0.0, 0.01], [110.0, 0.0], [0.9, 0.1]),
              "feat": Features(np.ones((3, 4)), 50.0), "meta": {"a": 1}}, {"node_id": "n"})
    out = store.open(KEY)
    assert not out["audio"].in_memory and out["audio"].sample_rate == 44100
    np.testing.assert_array_equal(out["audio"].numpy(), audio.numpy())
    assert out["text"] == "héllo" and out["meta"] == {"a": 1}
    np.testing.assert_allclose(out["f0"].hz, [110.0, 0.0])
    assert out["feat"].frame_rate == 50.0 and out["feat"].data.shape == (3, 4)
    assert store.attrs(KEY)["node_id"] == "n" and KEY in store.keys()


def test_audio_is_chunked_along_time_and_streams(store):
    w = store.writer(KEY)
    sink = w.audio_sink("audio", 48000, 2)
    for i in range(10):
        sink.write(np.full((2, 50000), i, np.float32))
    w.commit({"audio": sink.finish()}, {})
    audio = store.open(KEY)["audio"]
    assert audio.data.chunks == (2, CHUNK_FRAMES) and audio.frames == 500000
    blocks = list(audio.blocks(100000))
    assert len(blocks) == 5 and blocks[1][0, 0] == 2.0


def test_aborted_write_leaves_nothing(store):
    w = store.writer(KEY)
    w.audio_sink("audio", 8000, 1).write(np.ones((1, 10), np.float32))
    w.abort()
    assert not store.exists(KEY)
    with pytest.raises(ArtifactMissing):
        store.open(KEY)


def test_half_moved_artifact_without_marker_is_not_valid(tmp_path):
    store = ArtifactStore(tmp_path / "arts")
    w = store.writer(KEY)
    w.commit({"t": "x"}, {})
    (tmp_path / "arts" / "objects" / KEY[:2] / KEY / "_COMPLETE").unlink()  # crash between move and marker
    assert not store.exists(KEY)
    w2 = store.writer(KEY)
    w2.commit({"t": "y"}, {})
    assert store.open(KEY)["t"] == "y"


def test_process_killed_mid_write_leaves_no_valid_artifact(tmp_path):
    root = tmp_path / "arts"
    script = textwrap.dedent(f"""
        import os, numpy as np
        from haysay.graph_engine.store import ArtifactStore
        w = ArtifactStore({str(root)!r}).writer({KEY!r})
        sink = w.audio_sink("audio", 48000, 1)
        for _ in range(20):
            sink.write(np.ones((1, 65536), np.float32))
        os._exit(9)  # dies before commit, as a killed worker would
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == 9, proc.stderr.decode()
    store = ArtifactStore(root)
    assert not store.exists(KEY) and store.keys() == []
    assert list((root / "tmp").iterdir())  # the partial write is there, but only in tmp
    assert store.clean_tmp(older_than_s=0) == 1


def test_delete_removes_marker_first(store):
    store.writer(KEY).commit({"t": "x"}, {})
    assert store.size(KEY) > 0
    store.delete(KEY)
    assert not store.exists(KEY)


def test_rejects_non_key_paths(store):
    with pytest.raises(ValueError):
        store.exists("../../etc")


def test_replace_swaps_an_existing_artifact(store):
    store.writer(KEY).commit({"t": "old"}, {})
    store.writer(KEY).commit({"t": "ignored"}, {})  # same key, same content by construction: first stays
    assert store.open(KEY)["t"] == "old"
    store.writer(KEY).commit({"t": "new"}, {}, replace=True)
    assert store.open(KEY)["t"] == "new" and store.keys() == [KEY]
