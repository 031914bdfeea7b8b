"""Artifact store: chunked audio, value types, atomic writes, crash safety, leases, verification."""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from haysay.graph_engine.store import CHUNK_FRAMES, MARKER, ArtifactIncomplete, ArtifactMissing, ArtifactStore
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
    assert store.clean_tmp() == 1  # its writer is dead: swept at once, no waiting an hour


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


def _ramp(frames: int, start: float = 0.0) -> np.ndarray:
    return (start + np.arange(frames, dtype=np.float32)[None, :] / frames).astype(np.float32)


def test_marker_lists_every_file_with_size_and_checksum(store):
    w = store.writer(KEY)
    sink = w.audio_sink("audio", 8000, 1)
    sink.write(_ramp(2 * CHUNK_FRAMES + 5))
    w.commit({"audio": sink.finish(), "text": "x"}, {})
    marker = json.loads(store.fs.cat_file(store._object_path(KEY) + "/" + MARKER))
    files = marker["files"]
    assert marker["count"] == len(files) and {"zarr.json", "audio/zarr.json", "audio/c/0/0", "audio/c/0/2"} <= set(files)
    for name, (size, _) in files.items():  # recorded as written, matching what is on disk
        assert store.fs.size(store._object_path(KEY) + "/" + name) == size
    assert store.verify(KEY)


@pytest.mark.parametrize("damage", ["delete", "truncate", "flip", "old marker"])
def test_verify_fails_on_a_missing_short_or_changed_chunk(tmp_path, damage):
    store = ArtifactStore(tmp_path / "arts")
    w = store.writer(KEY)
    w.commit({"audio": Audio(_ramp(3 * CHUNK_FRAMES), 8000)}, {})
    assert store.verify(KEY)
    chunk = tmp_path / "arts" / "objects" / KEY[:2] / KEY / "audio" / "c" / "0" / "1"
    data = chunk.read_bytes()
    if damage == "old marker":  # written by a version that recorded no sizes or checksums
        (chunk.parents[3] / MARKER).write_text("1764650000.0")
    elif damage == "delete":
        chunk.unlink()
    elif damage == "truncate":
        chunk.write_bytes(data[: len(data) // 2])
    else:
        chunk.write_bytes(data[:10] + bytes([data[10] ^ 1]) + data[11:])
    assert store.exists(KEY) and not store.verify(KEY)  # the marker is there, the artifact is not whole
    w = store.writer(KEY)  # a recompute replaces it rather than keeping the damaged one
    w.commit({"audio": Audio(_ramp(3 * CHUNK_FRAMES), 8000)}, {})
    assert store.verify(KEY)
    np.testing.assert_array_equal(store.open(KEY)["audio"].numpy(), _ramp(3 * CHUNK_FRAMES))


def test_a_writer_whose_folder_vanished_stores_nothing(store):
    """Before leases, a sweep could remove a live writer's folder; the chunks written after it came
    back in a new folder and the artifact read zeros where the first ones had been."""
    w = store.writer(KEY)
    sink = w.audio_sink("audio", 8000, 1)
    sink.write(_ramp(CHUNK_FRAMES))
    store._remove(w.tmp_path)
    sink.write(_ramp(CHUNK_FRAMES, 1.0))
    with pytest.raises(ArtifactIncomplete, match="missing or cut short"):
        w.commit({"audio": sink.finish()}, {})
    assert not store.exists(KEY)


def test_sweep_keeps_a_live_writers_folder_however_old_and_takes_a_killed_ones(tmp_path):
    root = tmp_path / "arts"
    script = textwrap.dedent(f"""
        import sys, time, numpy as np
        from haysay.graph_engine.store import ArtifactStore
        w = ArtifactStore({str(root)!r}).writer({KEY!r})
        w.audio_sink("audio", 8000, 1).write(np.ones((1, {CHUNK_FRAMES}), np.float32))
        print(w.tmp_path, flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        folder = proc.stdout.readline().strip()
        assert folder and os.path.isdir(folder)
        old = time.time() - 3 * 3600  # its stage has written for three hours: the folder's mtime says nothing
        os.utime(folder, (old, old))
        store = ArtifactStore(root)
        assert store.clean_tmp() == 0 and os.path.isdir(folder)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert store.clean_tmp() == 1 and not os.path.exists(folder)
        assert list((root / "tmp").iterdir()) == []  # its lease went with it
    finally:
        if proc.poll() is None:
            proc.kill()


def test_remote_lease_holds_while_its_writer_lives_and_is_swept_once_stale(tmp_path):
    from haysay.graph_engine import liveness
    store = ArtifactStore(f"memory://haysay-test-lease-{tmp_path.name}")
    w = store.writer(KEY)
    w.audio_sink("audio", 8000, 1).write(np.ones((1, CHUNK_FRAMES), np.float32))
    lease = w.tmp_path + liveness.SUFFIX
    assert json.loads(store.fs.cat_file(lease))["pid"] == os.getpid()
    assert store.clean_tmp() == 0  # this process is alive
    info = {"pid": 1, "host": "another-host", "renewed": time.time() - liveness.STALE_S - 1}
    store.fs.pipe_file(lease, json.dumps(info).encode())  # as if written by a writer elsewhere that stopped
    assert store.clean_tmp() == 1 and not store.fs.exists(w.tmp_path) and not store.fs.exists(lease)
    w.abort()
