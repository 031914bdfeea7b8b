"""A streaming stage's blocks served to the page one by one: exact float32 samples, where each starts, and the
stage's status, so the player knows when to stop asking; strict ids."""
from __future__ import annotations

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from haysay.graph_engine import StageEvent, parse_pipeline
from haysay.graph_engine.streaming import BlockEvent
from haysay.graph_engine.values import Audio
from haysay.studio.runs import LiveRuns, RunHandle
from haysay.studio.stream_routes import add_stream_routes

DOC = parse_pipeline({"format": "haysay.pipeline/1",
                      "nodes": [{"id": "tone", "type": "gen.tone", "params": {"duration": 0.5}}]})


@pytest.fixture
def served(sine_audio):
    live = LiveRuns(keep=2)
    handle = live.add(RunHandle(DOC, states={"tone": {"status": "queued", "progress": 0.0, "message": ""}}))
    app = FastAPI()
    add_stream_routes(app, live)
    stereo = sine_audio(freq=330.0, seconds=0.3, rate=22050, amp=0.5, channels=2).numpy()
    stereo[1] *= -0.5  # channels differ, so their order shows
    return TestClient(app), live, handle, [stereo[:, :3000], stereo[:, 3000:]]


def _push(handle, node, parts):
    """Blocks as the engine reports them (StageEvent.block), after those already pushed."""
    done = handle.blocks.get(node, [])
    start = sum(b.audio.frames for b in done)
    for i, part in enumerate(parts, len(done)):
        handle.on_event(StageEvent("run", node, "running", None, "", BlockEvent(node, i, start, Audio(part, 22050))))
        start += part.shape[1]


def _samples(r):
    ch, frames = int(r.headers["x-channels"]), int(r.headers["x-frames"])
    return np.frombuffer(r.content, "<f4").reshape(ch, frames)


def test_blocks_come_in_order_with_their_start_and_the_stage_status(served):
    client, _live, handle, parts = served
    url = f"/stream/{handle.id}/tone"
    r = client.get(f"{url}/0.f32")
    assert r.status_code == 204 and r.headers["x-stage"] == "queued" and r.headers["x-blocks"] == "0"
    _push(handle, "tone", parts[:1])
    r = client.get(f"{url}/0.f32")
    assert r.status_code == 200 and r.headers["x-stage"] == "running" and r.headers["x-start"] == "0"
    assert r.headers["x-rate"] == "22050" and r.headers["cache-control"] == "no-store"
    np.testing.assert_array_equal(_samples(r), parts[0])
    assert client.get(f"{url}/1.f32").status_code == 204
    _push(handle, "tone", parts[1:])
    handle.on_event(StageEvent("run", "tone", "done", 1.0))
    r = client.get(f"{url}/1.f32")
    assert r.status_code == 200 and r.headers["x-start"] == "3000" and r.headers["x-stage"] == "done"
    np.testing.assert_array_equal(np.concatenate([parts[0], _samples(r)], axis=1), np.concatenate(parts, axis=1))
    r = client.get(f"{url}/2.f32")  # the stage ended and every block was taken: the player stops here
    assert r.status_code == 204 and r.headers["x-stage"] == "done" and r.headers["x-blocks"] == "2"


def test_only_the_newest_runs_are_kept_and_ids_are_strict(served):
    client, live, handle, _parts = served
    assert client.get(f"/stream/{handle.id}/tone/0.f32").status_code == 204
    live.add(RunHandle(DOC)), live.add(RunHandle(DOC))  # keep=2: the first run is let go
    assert client.get(f"/stream/{handle.id}/tone/0.f32").status_code == 404
    assert client.get("/stream/nothex/tone/0.f32").status_code == 400
    assert client.get(f"/stream/{'a' * 32}/..%2Fx/0.f32").status_code in (400, 404)
    assert client.get(f"/stream/{'a' * 32}/tone/-1.f32").status_code == 400
