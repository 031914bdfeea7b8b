"""Storage lifecycle: sizes, settings, pins, and pruning under budget and retention."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

from haysay.graph_engine import Engine, Settings, parse_pipeline
from haysay.graph_engine.storage import Storage, StorageSettings, parse_size

LATER = 60 * 86400.0  # prune "as of" two months on: grace and keep_days no longer protect anything


def tone_doc(freq: float, name: str = "tones", save: str | None = None):
    nodes = [{"id": "t", "type": "gen.tone", "params": {"frequency": freq, "duration": 0.5, "sample_rate": 8000}}]
    edges, out = [], "t.audio"
    if save:
        nodes.append({"id": "s", "type": "audio.save", "params": {"path": save}})
        edges, out = [{"from": "t.audio", "to": "s.audio"}], "s.audio"
    return parse_pipeline({"format": "haysay.pipeline/1", "name": name, "nodes": nodes, "edges": edges,
                           "outputs": {"audio": out}})


@pytest.fixture
def engine(haysay_home):
    eng = Engine(Settings.from_env())
    yield eng
    eng.close()


def key_of(engine, doc, node="t"):
    return engine.keys(engine.plan(doc))[node]


def test_parse_size_and_settings(haysay_home, monkeypatch):
    assert parse_size("20G") == 20 * 1024**3 and parse_size("500 MB") == 500 * 1024**2 and parse_size("123") == 123
    with pytest.raises(ValueError, match="--budget: '12 parsecs' is not a size"):
        parse_size("12 parsecs", "--budget")
    StorageSettings(budget_bytes=1000, keep_runs=3, keep_days=None).save(haysay_home)
    s = StorageSettings.load(haysay_home)
    assert (s.budget_bytes, s.keep_runs, s.keep_days) == (1000, 3, None)
    monkeypatch.setenv("HAYSAY_STORAGE_BUDGET", "2K")
    monkeypatch.setenv("HAYSAY_KEEP_RUNS", "many")
    with pytest.raises(ValueError, match="keep_runs must be a int"):
        StorageSettings.load(haysay_home)
    monkeypatch.setenv("HAYSAY_KEEP_RUNS", "5")
    s = StorageSettings.load(haysay_home)
    assert (s.budget_bytes, s.keep_runs) == (2048, 5)


def test_usage_by_pipeline_age_models_and_history(engine, haysay_home):
    engine.run(tone_doc(300, "alpha"))
    engine.run(tone_doc(400, "beta"))
    (haysay_home / "models" / "v").mkdir(parents=True)
    (haysay_home / "models" / "v" / "w.bin").write_bytes(b"\0" * 12345)
    u = Storage().usage()
    a = u["artifacts"]
    assert a["count"] == 2 and sum(a["by_pipeline"].values()) == a["bytes"] == sum(a["by_age"].values())
    assert set(a["by_pipeline"]) == {"alpha", "beta"} and a["by_age"]["< 1 day"] == a["bytes"]
    assert u["models_bytes"] == 12345 and u["history_bytes"] > 0


def test_prune_oldest_first_until_under_budget(engine):
    docs = [tone_doc(f) for f in (200, 300, 400)]
    for d in docs:
        engine.run(d)
        time.sleep(0.01)
    keys = [key_of(engine, d) for d in docs]
    st = Storage(lifecycle=StorageSettings(keep_runs=None, keep_days=None))
    sizes = [engine.store.size(k) for k in keys]
    budget = sum(sizes) - sizes[0]  # dropping the oldest one is enough
    dry = st.prune(dry_run=True, budget=budget, now=time.time() + LATER)
    assert [k for k, _, _ in dry.delete] == [keys[0]] and all(engine.store.exists(k) for k in keys)
    done = st.prune(budget=budget, now=time.time() + LATER)
    assert done.deleted == [keys[0]] and done.after_bytes <= budget
    assert not engine.store.exists(keys[0]) and engine.store.exists(keys[1]) and engine.store.exists(keys[2])


def test_prune_keeps_pinned_retained_young_and_alias_targets(engine, tmp_path):
    old, pinned, last = tone_doc(210), tone_doc(220), tone_doc(230)
    saved = tone_doc(240, save=str(tmp_path / "x.wav"))
    for d in (old, pinned, saved, last):
        engine.run(d)
    k_old, k_pin, k_last, k_src = (key_of(engine, d) for d in (old, pinned, last, saved))
    alias_key = next(k for k in engine.store.keys() if engine.store.attrs(k).get("node_type") == "audio.save")
    orphan = engine.store.writer("ab" * 32)
    orphan.commit({"note": "left by nobody"}, {"node_id": "x"})
    st = Storage(lifecycle=StorageSettings(keep_runs=1, keep_days=None))
    st.pin(engine.history.runs(limit=10, status=None)[-2].run_id)  # the second run: `pinned`
    st.pin(alias_key[:12])
    assert st.prune(budget=0).deleted == []  # everything is younger than the grace period
    plan = st.prune(budget=0, now=time.time() + LATER)
    reasons = dict((k, why) for k, _, why in plan.delete)
    assert set(reasons) == {k_old, "ab" * 32}
    assert reasons["ab" * 32].startswith("unreferenced") and reasons[k_old] == "expired"
    assert plan.kept[k_pin].startswith("pinned run") and plan.kept[alias_key] == "pinned"
    assert plan.kept[k_last] == "used by the last 1 runs"
    assert "aliased by" in plan.kept[k_src] or plan.kept[k_src].startswith("pinned run")
    assert engine.store.exists(k_src) and engine.store.open(alias_key)["audio"].frames == 4000
    assert not engine.store.exists(k_old)
    assert st.unpin(alias_key[:12]) == ("keys", alias_key)
    with pytest.raises(KeyError, match="no run or artifact"):
        st.pin("deadbeef")


def test_prune_never_deletes_a_running_jobs_artifacts(haysay_home, monkeypatch):
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent / "jobs"))
    import slow_nodes
    from haysay.graph_engine import default_registry
    from haysay.graph_engine.jobs import JobRunner
    default_registry(reload=True)

    doc = parse_pipeline({"format": "haysay.pipeline/1", "name": "slow", "edges": [{"from": "t.audio", "to": "p.audio"}],
                          "nodes": [{"id": "t", "type": "gen.tone", "params": {"duration": 0.5, "sample_rate": 8000}},
                                    {"id": "p", "type": "test.slow_pass", "params": {"seconds": 60}}],
                          "outputs": {"audio": "p.audio"}})
    monkeypatch.setenv("HAYSAY_KEEP_RUNS", "none")
    monkeypatch.setenv("HAYSAY_KEEP_DAYS", "none")
    runner = JobRunner().start()
    try:
        other = runner.wait(runner.submit(tone_doc(555)), 30)
        tone_key = key_of(runner.engine, doc)
        job_id = runner.submit(doc)
        deadline = time.time() + 30
        while not runner.engine.store.exists(tone_key):
            assert time.time() < deadline
            time.sleep(0.05)
        assert runner.get(job_id).state == "running"
        from haysay.graph_engine.storage import Storage as S
        plan = S(runner.engine.settings, runner.engine.store, runner.history).prune(
            budget=0, now=time.time() + LATER, running_keys=lambda: runner.get(job_id).keys)
        other_key = other.outputs["audio"].split("/")[0]
        assert plan.deleted == [other_key]
        assert plan.kept[tone_key].startswith("in use by a running job")
        assert runner.engine.store.exists(tone_key)
    finally:
        slow_nodes.STOP.set()
        runner.stop()
        slow_nodes.STOP.clear()


def test_prune_keeps_the_tmp_folder_of_a_stage_that_has_written_for_hours(engine):
    """Prune used to take any tmp folder whose mtime was over an hour old; a long stage's folder
    keeps its first mtime while chunks go in underneath, so it went mid-write, and the stored
    artifact read zeros where the early chunks had been."""
    from haysay.graph_engine.store import CHUNK_FRAMES
    store, key = engine.store, "cd" * 32
    writer = store.writer(key)
    sink = writer.audio_sink("audio", 8000, 1)
    first = np.linspace(-1, 1, CHUNK_FRAMES, dtype=np.float32)[None, :]
    sink.write(first)  # one whole chunk on disk
    old = time.time() - 2 * 3600
    os.utime(writer.tmp_path, (old, old))
    plan = Storage().prune()
    assert plan.tmp_removed == 0 and os.path.isdir(writer.tmp_path)
    sink.write(first[:, ::-1])
    writer.commit({"audio": sink.finish()}, {})
    assert store.verify(key)
    np.testing.assert_array_equal(store.open(key)["audio"].numpy(), np.concatenate([first, first[:, ::-1]], axis=1))
