"""What the engine's per-stage costs were cut to, kept honest: short audio stored in one chunk of
its own length, group attributes read from zarr.json, one DuckDB open for a short run (and the file
let go soon after), small outputs handed between a local run's chains in memory (each reader its
own copy)."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
import zarr

from haysay.graph_engine import Engine, History, Settings, parse_pipeline
from haysay.graph_engine import history as history_mod
from haysay.graph_engine.store import CHUNK_FRAMES, ArtifactStore
from haysay.graph_engine.values import Audio

KEY = "cd" + "1" * 62


def fan_out(branches: int = 4) -> dict:
    nodes = [{"id": "src", "type": "gen.tone", "params": {"frequency": 330.0, "duration": 0.2}}]
    nodes += [{"id": f"b{i}", "type": "audio.gain", "params": {"gain_db": -6.0 * (i + 1)}} for i in range(branches)]
    return {"format": "haysay.pipeline/1", "nodes": nodes,
            "edges": [{"from": "src.audio", "to": f"b{i}.audio"} for i in range(branches)],
            "outputs": {f"o{i}": f"b{i}.audio" for i in range(branches)}}


def test_short_audio_is_one_chunk_of_its_length_long_audio_keeps_the_block_size(tmp_path):
    store = ArtifactStore(tmp_path)
    rng = np.random.default_rng(3)
    short = Audio(rng.uniform(-1, 1, (2, 2205)).astype(np.float32), 44100)
    long_ = Audio(rng.uniform(-1, 1, (1, CHUNK_FRAMES + 10)).astype(np.float32), 44100)
    store.writer(KEY).commit({"short": short, "long": long_}, {"run_id": "r"})
    assert store.verify(KEY)
    out = store.open(KEY)
    assert out["short"].data.chunks == (2, 2205) and out["long"].data.chunks == (1, CHUNK_FRAMES)
    np.testing.assert_array_equal(out["short"].numpy(), short.data)
    np.testing.assert_array_equal(out["long"].numpy(), long_.data)
    # the short array's stored chunk holds its own frames, not a 2**18-frame padded block
    chunk = tmp_path / "objects" / KEY[:2] / KEY / "short" / "c" / "0" / "0"
    assert chunk.stat().st_size < 2 * 2205 * 4 + 1024


def test_attributes_read_from_zarr_json_equal_zarrs_own_reading(tmp_path):
    store = ArtifactStore(tmp_path)
    attrs = {"run_id": "r1", "params": {"gain_db": -3.5, "nested": [1, 2.5, None, "x"]}, "unicode": "ü→"}
    store.writer(KEY).commit({"t": "text", "audio": Audio(np.zeros((1, 100), np.float32), 8000)}, attrs)
    group = zarr.open_group(zarr.storage.LocalStore(str(tmp_path / "objects" / KEY[:2] / KEY)), mode="r")
    assert store.attrs(KEY) == dict(group.attrs)
    assert store.attrs(KEY)["params"] == attrs["params"] and store.attrs(KEY)["ports"]["t"]["value"] == "text"


def test_a_short_run_opens_the_history_once_and_lets_the_file_go(haysay_home, monkeypatch):
    opened = []
    real = history_mod.duckdb.connect
    monkeypatch.setattr(history_mod.duckdb, "connect", lambda *a, **k: opened.append(a) or real(*a, **k))
    with Engine(Settings.from_env()) as eng:
        first = eng.run(parse_pipeline(fan_out()))
        assert first.ok, first.error
        before = len(opened)
        again = eng.run(parse_pipeline(fan_out(3)), use_cache=False)
        assert again.ok and len(again.computed) == 4
        assert len(opened) - before == 1  # the run's start and end in one connection
    path = Settings.from_env().history_path
    # another process gets the file within a bounded wait (the closing thread is done by then)
    probe = ("import duckdb, sys, time\n"
             "for _ in range(40):\n"
             "    try:\n"
             "        con = duckdb.connect(sys.argv[1]); break\n"
             "    except duckdb.IOException: time.sleep(0.05)\n"
             "else: sys.exit(3)\n"
             "print(con.execute(\"SELECT count(*), min(status) FROM runs\").fetchone())\n")
    out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(2, 'succeeded')"


def test_a_kept_connection_is_closed_by_its_timer(tmp_path):
    hist = History(tmp_path / "h.duckdb")
    with hist.session(keep_s=0.1):
        hist.start_run("run-1", {"name": "p"}, "hash")
    assert hist._idle is not None  # kept for the next visit
    deadline = time.monotonic() + 5
    while hist._idle is not None and time.monotonic() < deadline:  # bounded
        time.sleep(0.02)
    assert hist._idle is None
    with hist.session():  # a fresh connection, and the row is there
        assert hist.run("run-1").status == "running"


def test_a_stage_recorded_twice_keeps_the_later_row(tmp_path):
    hist = History(tmp_path / "h.duckdb")
    hist.start_run("run-1", {"name": "p"}, "hash")
    row = {"run_id": "run-1", "node_id": "n", "node_type": "audio.gain", "params_json": "{}", "cache_key": "k",
           "cache_hit": False, "worker": "w", "status": "running", "started_at": None, "ended_at": None,
           "duration_s": None, "error": None, "artifact_ref": None, "info_json": "{}"}
    hist.record_stages([row, {**row, "node_id": "m"}])
    hist.record_stages([{**row, "status": "done", "duration_s": 0.5}])
    stages = {s.node_id: s for s in hist.stages("run-1")}
    assert set(stages) == {"n", "m"} and stages["n"].status == "done" and stages["n"].duration_s == 0.5


def test_fan_out_branches_take_the_source_from_memory(haysay_home, monkeypatch):
    reads = []
    real_open = ArtifactStore.open
    monkeypatch.setattr(ArtifactStore, "open", lambda self, key: reads.append(key) or real_open(self, key))
    with Engine(Settings.from_env()) as eng:
        result = eng.run(parse_pipeline(fan_out(4)))
        assert result.ok, result.error
        src_key = result.stages["src"].cache_key
        assert src_key not in reads  # no branch read its input back from the store
        src = eng.store.open(src_key)["audio"].numpy()
        for i in range(4):  # every branch got the whole source, each gained on its own copy
            out = result.outputs[f"o{i}"].numpy()
            np.testing.assert_allclose(out, src * 10 ** (-6.0 * (i + 1) / 20), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("frames", [0, 1, 2205])
def test_tiny_audio_round_trips(tmp_path, frames):
    store = ArtifactStore(tmp_path)
    audio = Audio(np.linspace(-1, 1, frames, dtype=np.float32)[None, :], 16000)
    store.writer(KEY).commit({"audio": audio}, {})
    back = store.open(KEY)["audio"]
    assert back.frames == frames and back.sample_rate == 16000
    np.testing.assert_array_equal(back.numpy(), audio.data)


@pytest.mark.parametrize("frames", [0, 1000, CHUNK_FRAMES + 5000, 600_000])
def test_a_streamed_output_is_stored_whole_and_a_short_one_kept_in_memory(tmp_path, frames):
    store = ArtifactStore(tmp_path)
    writer = store.writer(KEY)
    sink = writer.audio_sink("audio", 22050, 2)
    data = np.random.default_rng(frames).standard_normal((2, frames)).astype(np.float32)
    for start in range(0, frames, 777):  # blocks that do not line up with the chunks
        sink.write(data[:, start:start + 777])
    audio = sink.finish()
    writer.commit({"audio": audio}, {})
    back = store.open(KEY)["audio"]
    assert back.frames == frames and back.channels == 2 and back.sample_rate == 22050
    np.testing.assert_array_equal(back.numpy(), data)
    if 0 < frames < CHUNK_FRAMES:
        assert back.data.chunks == (2, frames)  # not padded to a whole block
    elif frames:
        assert back.data.chunks == (2, CHUNK_FRAMES)
    kept = sink.kept()
    if 2 * frames <= (1 << 20):
        np.testing.assert_array_equal(kept.data, data)
    else:
        assert kept is None  # too long to hold: its readers open the stored array
