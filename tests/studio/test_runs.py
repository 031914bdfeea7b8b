"""Runs started from the studio: stage states arrive as each stage of a fused chain finishes."""
from __future__ import annotations

import time

from haysay.graph_engine import Engine, Settings, parse_pipeline
from haysay.graph_engine.engine import fuse_chains
from haysay.studio.runs import start_run

CHAIN = {"format": "haysay.pipeline/1", "nodes": [
    {"id": "tone", "type": "gen.tone", "params": {"duration": 20.0, "sample_rate": 16000}},
    {"id": "shift", "type": "audio.pitch_shift", "params": {"semitones": 3.0}},
    {"id": "gain", "type": "audio.gain", "params": {"gain_db": -3.0}}],
    "edges": [{"from": "tone.audio", "to": "shift.audio"}, {"from": "shift.audio", "to": "gain.audio"}]}


def test_stages_of_a_fused_chain_finish_one_by_one(haysay_home):
    doc = parse_pipeline(CHAIN)
    with Engine(settings=Settings.from_env(home=haysay_home), processes=False) as eng:
        p = eng.plan(doc)
        assert not p.errors and fuse_chains(p, p.order()) == [["tone", "shift", "gain"]]  # one Dask task
        handle = start_run(eng, doc)
        seen: list[dict[str, str]] = []
        deadline = time.monotonic() + 120
        while not handle.finished and time.monotonic() < deadline:
            snap = handle.snapshot()
            seen.append({n: s["status"] for n, s in snap.states.items()})
            time.sleep(0.02)
        assert handle.finished and handle.result is not None and handle.result.ok, handle.error
        # while the chain still ran, the tone was already shown done and the shift running
        assert any(s["tone"] == "done" and s["shift"] == "running" for s in seen), seen[-5:]
        assert any(s["shift"] == "done" and s["gain"] != "done" for s in seen) or \
            handle.result.stages["gain"].duration < 0.05  # a gain this fast may land in the same poll
        # states only move forward: no stage goes back from done
        for a, b in zip(seen, seen[1:]):
            for n in ("tone", "shift", "gain"):
                assert not (a[n] == "done" and b[n] != "done"), (n, a, b)
