"""What a killed `haysay run` leaves behind (a run stuck `running`, its tmp folder) is cleared on the next start."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from haysay.graph_engine import Engine, History, Settings, parse_pipeline

JOBS_TESTS = Path(__file__).parent / "jobs"  # slow_nodes: a stage that writes part of its output, then sleeps
RUN = f"""
import sys
sys.path.insert(0, {str(JOBS_TESTS)!r})
import slow_nodes
from haysay.cli import main
sys.exit(main(["run", sys.argv[1], "--out", sys.argv[2]]))
"""


def _tmp_entries(engine) -> list[Path]:
    tmp = Path(engine.store.base) / "tmp"
    return sorted(tmp.iterdir()) if tmp.is_dir() else []


def test_killed_run_is_marked_interrupted_and_its_tmp_folder_swept(haysay_home, tmp_path):
    doc = {"format": "haysay.pipeline/1", "name": "killed",
           "nodes": [{"id": "s", "type": "test.sleep", "params": {"seconds": 120, "tag": "leftover"}}],
           "outputs": {"audio": "s.audio"}}
    path = tmp_path / "slow.json"
    path.write_text(json.dumps(doc))
    engine = Engine(Settings.from_env())
    hist = History(Settings.from_env().history_path)
    proc = subprocess.Popen([sys.executable, "-c", RUN, str(path), str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        while not any(p.is_dir() for p in _tmp_entries(engine)):  # the stage is writing into its tmp folder
            assert proc.poll() is None, proc.stdout.read()
            assert time.time() < deadline, "the run never started writing"
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    (run,) = hist.runs()
    assert run.status == "running" and run.pid == proc.pid  # what the kill left
    assert any(p.is_dir() for p in _tmp_entries(engine))

    # a live run of another process on this host is not touched
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        hist.start_run("a" * 32, doc, "h")
        with hist.connect() as con:
            con.execute("UPDATE runs SET pid = ? WHERE run_id = ?", [live.pid, "a" * 32])
        # the next run cleans up before it starts
        tone = parse_pipeline({"format": "haysay.pipeline/1", "nodes": [
            {"id": "t", "type": "gen.tone", "params": {"duration": 0.1, "sample_rate": 8000}}],
            "outputs": {"audio": "t.audio"}})
        assert engine.run(tone).ok
        assert hist.run("a" * 32).status == "running"
    finally:
        live.kill()
        live.wait(10)
        engine.close()
    killed = hist.run(run.run_id)
    assert killed.status == "interrupted" and "ended before the run did" in killed.error
    assert _tmp_entries(engine) == []  # no folder, no lease left


def test_jobs_serve_start_clears_a_killed_runs_leftovers(haysay_home, tmp_path):
    """The orchestrator sweeps at start too, before any job runs."""
    hist = History(Settings.from_env().history_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(10)
    hist.start_run("b" * 32, {"format": "haysay.pipeline/1", "nodes": []}, "h")
    with hist.connect() as con:
        con.execute("UPDATE runs SET pid = ? WHERE run_id = ?", [dead.pid, "b" * 32])
    orphan = Path(Settings.from_env().artifacts) / "tmp" / ("ab" * 32 + "-deadbeef")
    orphan.mkdir(parents=True)
    (orphan / "zarr.json").write_text("{}")
    out = subprocess.run([sys.executable, "-m", "haysay", "jobs", "serve", "--exit-when-idle"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert hist.run("b" * 32).status == "interrupted"
    assert not orphan.exists()
    assert os.listdir(orphan.parent) == []
