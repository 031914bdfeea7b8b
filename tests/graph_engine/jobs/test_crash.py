"""Crashes: a killed `haysay jobs serve` process, and a Dask worker process killed mid-stage."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import pipe

import slow_nodes
from haysay.graph_engine import Engine, History, Settings
from haysay.graph_engine.jobs import JobRequest, JobRunner, JobStore, Spool

pytestmark = pytest.mark.slow


def haysay(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "haysay", *args], capture_output=True, text=True, timeout=timeout)


def _serve_and_kill(doc, req, tone_key) -> None:
    """Start `haysay jobs serve` with `req` spooled, SIGKILL it once the job's second (slow) stage runs."""
    Spool(Settings.from_env().home).put_request(req)  # what `haysay submit` does
    serve = subprocess.Popen([sys.executable, "-m", "haysay", "jobs", "serve", "--import", "slow_nodes"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 90
        store = Engine().store
        while not store.exists(tone_key):  # first stage stored: the slow second stage is running
            assert serve.poll() is None, serve.stdout.read()
            assert time.time() < deadline, "the orchestrator never ran the first stage"
            time.sleep(0.1)
        shown = json.loads(haysay("jobs", "show", req.job_id[:10], "--json").stdout)
        assert shown["state"] == "running"  # read from the live orchestrator's status
        serve.send_signal(signal.SIGKILL)
        serve.wait(10)
    finally:
        if serve.poll() is None:
            serve.kill()


def _crashy(seconds: float = 120):
    doc = pipe([("t", "gen.tone", {"duration": 0.5, "sample_rate": 8000}),
                ("p", "test.slow_pass", {"seconds": seconds})], edges=[("t", "p")], name="crashy")
    return doc, Engine().keys(Engine().plan(doc))["t"], JobRequest(pipeline=doc.to_dict())


def test_killed_orchestrator_leaves_interrupted_and_resume_reuses_cache(haysay_home, node_path, monkeypatch, tmp_path):
    release = tmp_path / "release"
    monkeypatch.setenv("SLOW_NODES_RELEASE", str(release))
    doc, tone_key, req = _crashy()
    _serve_and_kill(doc, req, tone_key)

    # restarting (auto-resume off) finds the job it left running and marks it interrupted
    out = haysay("jobs", "serve", "--import", "slow_nodes", "--exit-when-idle", "--no-auto-resume")
    assert "recovered 1 interrupted job(s); resumed 0" in out.stdout, out.stdout + out.stderr
    shown = json.loads(haysay("jobs", "show", req.job_id, "--json").stdout)
    assert shown["state"] == "interrupted" and "orchestrator stopped" in shown["error"]
    assert [e[2] for e in shown["events"]] == ["queued", "running", "interrupted"]

    assert haysay("jobs", "resume", req.job_id).returncode == 0
    release.touch()  # the slow stage now ends at once
    out = haysay("jobs", "serve", "--import", "slow_nodes", "--exit-when-idle", "--cpu", "1")
    assert f"job {req.job_id} succeeded" in out.stdout, out.stdout + out.stderr
    hist = History(Settings.from_env().history_path)
    job = JobStore(hist).get(req.job_id)
    assert job.state == "succeeded" and len(job.run_ids) == 2
    assert hist.run(job.run_ids[0]).status == "interrupted"
    stages = {s.node_id: s for s in hist.stages(job.run_ids[1])}
    assert stages["t"].cache_hit and stages["t"].status == "cached"
    assert stages["p"].status == "done"


def test_restarted_orchestrator_resumes_interrupted_jobs_itself(haysay_home, node_path, monkeypatch, tmp_path):
    release = tmp_path / "release"
    monkeypatch.setenv("SLOW_NODES_RELEASE", str(release))
    doc, tone_key, req = _crashy()
    _serve_and_kill(doc, req, tone_key)

    release.touch()  # the slow stage now ends at once
    out = haysay("jobs", "serve", "--import", "slow_nodes", "--exit-when-idle")  # no `jobs resume` needed
    assert "recovered 1 interrupted job(s); resumed 1" in out.stdout, out.stdout + out.stderr
    assert f"job {req.job_id} succeeded" in out.stdout, out.stdout + out.stderr
    hist = History(Settings.from_env().history_path)
    job = JobStore(hist).get(req.job_id)
    assert job.state == "succeeded" and len(job.run_ids) == 2
    assert [e.new_state for e in JobStore(hist).events(req.job_id)] == [
        "queued", "running", "interrupted", "queued", "running", "succeeded"]
    assert hist.run(job.run_ids[0]).status == "interrupted"
    stages = {s.node_id: s for s in hist.stages(job.run_ids[1])}
    assert stages["t"].cache_hit and stages["p"].status == "done"
    key, port = job.outputs["audio"].split("/")
    assert Engine().store.open(key)[port].frames == 4000


@pytest.fixture
def process_cluster(node_path):
    """factory(allowed_failures) -> a client of a one-worker process cluster that reschedules lost
    tasks that many times."""
    import dask
    from distributed import Client, LocalCluster
    made = []

    def make(allowed: int):
        with dask.config.set({"distributed.scheduler.allowed-failures": allowed}):
            cluster = LocalCluster(n_workers=1, processes=True, threads_per_worker=2, dashboard_address=None)
        client = Client(cluster)
        made.append((client, cluster))
        return client

    yield make
    for client, cluster in made:
        client.close()
        cluster.close()


def _kill_worker_when_running(pids: list[int], node: str):
    """on_stage hook (it runs on the client's event loop: no blocking calls): SIGKILL the worker
    processes once `node` reports progress (its output is then partly written)."""
    killed = threading.Event()

    def on_stage(job_id, ev):
        if ev.node == node and ev.status == "running" and (ev.progress or 0) > 0 and not killed.is_set():
            killed.set()
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
    return on_stage, killed


@pytest.mark.parametrize("allowed, expect", [(1, "succeeded"), (0, "failed")])
def test_worker_killed_mid_stage(haysay_home, process_cluster, allowed, expect):
    client = process_cluster(allowed)
    engine = Engine(Settings.from_env())
    engine.attach(client)
    holder: dict = {}
    runner = JobRunner(engine, node_modules=["slow_nodes"],
                       on_stage=lambda j, ev: holder["hook"](j, ev))
    holder["hook"], killed = _kill_worker_when_running(list(client.run(os.getpid).values()), "s")
    runner.start()
    try:
        doc = pipe([("s", "test.sleep", {"seconds": 2.0, "tag": f"kill{allowed}"})])
        key = engine.keys(engine.plan(doc))["s"]
        job = runner.wait(runner.submit(doc), 120)
    finally:
        runner.stop()
        engine.close()
    assert killed.is_set()
    assert job.state == expect, job.error
    store = engine.store
    if expect == "failed":
        assert job.error.startswith("worker lost:") and "died while running" in job.error
        assert not store.exists(key)
    else:
        assert store.exists(key) and store.open(key)["audio"].frames == 8000
    # the killed attempt's partial output stayed in tmp; no object folder lacks its completion marker
    objects = Path(store.base) / "objects"
    for d in objects.glob("*/*"):
        assert (d / "_COMPLETE").is_file(), f"half-written artifact {d}"
    assert any(p.name.startswith(key) for p in (Path(store.base) / "tmp").iterdir())
