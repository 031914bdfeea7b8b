"""Third-party nodes through the `haysay.nodes` entry-point group; running on an existing cluster."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from distributed import LocalCluster
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine import contract
from haysay.graph_engine.contract import TEXT, default_registry, node

ROOT = Path(__file__).resolve().parents[2]


class _ShoutParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    times: int = Field(1, ge=1, le=3)


def _plugin_entry():
    node("plugin.shout", inputs={"text": TEXT}, outputs={"text": TEXT}, params=_ShoutParams, category="transform")(
        lambda params, text: (text.upper() + "!") * params.times)


class _EntryPoint:
    def __init__(self, name, target):
        self.name, self._target = name, target

    def load(self):
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


@pytest.fixture
def plugins(monkeypatch):
    def install(*eps):
        monkeypatch.setattr(contract, "entry_points", lambda group: list(eps) if group == "haysay.nodes" else [])
        return default_registry(reload=True)
    yield install
    contract._DECLARED.pop("plugin.shout", None)
    monkeypatch.undo()
    default_registry(reload=True)


def test_entry_point_plugin_adds_a_node(plugins):
    reg = plugins(_EntryPoint("shouty", _plugin_entry))
    assert "plugin.shout" in reg and "audio.gain" in reg
    assert reg["plugin.shout"].call({"times": 2}, text="hi") == {"text": "HI!HI!"}


def test_broken_plugin_warns_and_keeps_builtins(plugins):
    with pytest.warns(UserWarning, match="node plug-in 'broken' failed to load"):
        reg = plugins(_EntryPoint("broken", ImportError("no module named nowhere")))
    assert "audio.gain" in reg and "plugin.shout" not in reg


def test_scheduler_address_runs_on_that_cluster(haysay_home, tmp_path):
    cluster = LocalCluster(n_workers=1, processes=False, threads_per_worker=2, protocol="tcp", host="127.0.0.1",
                           dashboard_address=":0")
    try:
        worker_addr = next(iter(cluster.scheduler.workers))
        out = tmp_path / "out"
        env = {**os.environ, "HAYSAY_HOME": str(haysay_home)}
        proc = subprocess.run([sys.executable, "-m", "haysay", "run", "examples/hello.json", "--out", str(out),
                               "--scheduler", cluster.scheduler_address, "-q"],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
        assert proc.returncode == 0, proc.stderr
        run_id = proc.stdout.split("run ", 1)[1].split(":", 1)[0]
        hist = subprocess.run([sys.executable, "-m", "haysay", "history", run_id, "--json"], capture_output=True,
                              text=True, env=env, cwd=ROOT, timeout=120)
        workers = {s["worker"] for s in json.loads(hist.stdout)["stages"]}
        assert workers == {worker_addr} and worker_addr.startswith("tcp://127.0.0.1:")
        assert (out / "low.wav").exists()
    finally:
        cluster.close()


def test_a_stage_too_big_for_the_clusters_workers_is_refused_before_it_runs(haysay_home, tmp_path, monkeypatch):
    # this machine has GBs to spare, but the cluster's only worker offers 1 GiB: 100 s at 48 kHz through
    # vc.world (320 B per sample, ~2 GB) is refused at vc.world, with both figures, and nothing is stored
    monkeypatch.delenv("HAYSAY_WORKER_MEMORY_MB", raising=False)
    from haysay.graph_engine import Engine, InvalidPipeline, parse_pipeline
    cluster = LocalCluster(n_workers=1, processes=False, threads_per_worker=1, protocol="tcp", host="127.0.0.1",
                           dashboard_address=":0", memory_limit="1GiB")
    doc = parse_pipeline({"format": "haysay.pipeline/1", "name": "big",
                          "nodes": [{"id": "t", "type": "gen.tone", "params": {"duration": 100.0, "sample_rate": 48000}},
                                    {"id": "w", "type": "vc.world", "params": {}}],
                          "edges": [{"from": "t.audio", "to": "w.audio"}], "outputs": {"audio": "w.audio"}})
    eng = Engine(scheduler=cluster.scheduler_address)
    try:
        assert eng.plan(doc).ok  # on this machine alone it would fit
        with pytest.raises(InvalidPipeline) as err:
            eng.run(doc)
        (e,) = err.value.errors
        assert e.node == "w" and e.code == "memory"
        assert "1,024 MB" in e.message and "needs about 1,9" in e.message
        assert eng.history.runs() == []
    finally:
        eng.close()
        cluster.close()


def test_builtin_with_missing_library_is_left_out_and_reported(monkeypatch):
    import builtins
    import importlib

    import haysay.nodes as nodes_pkg
    real_import = builtins.__import__

    # most built-ins import their libraries where they run (registering stays light); the loudness
    # family still needs soxr to load, so a missing soxr leaves those modules out
    def no_soxr(name, *args, **kwargs):
        if name == "soxr":
            raise ModuleNotFoundError("No module named 'soxr'", name="soxr")
        return real_import(name, *args, **kwargs)

    family = [m for m in nodes_pkg.BUILTIN_MODULES if m.startswith("haysay.nodes.audio.")]
    saved = {m: sys.modules.pop(m) for m in family if m in sys.modules}
    monkeypatch.setattr(builtins, "__import__", no_soxr)
    try:
        importlib.reload(nodes_pkg)
        assert nodes_pkg.UNAVAILABLE["haysay.nodes.audio.levels"] == "needs the Python package 'soxr'"
        assert "haysay.nodes.audio.gain" not in nodes_pkg.UNAVAILABLE
    finally:
        monkeypatch.setattr(builtins, "__import__", real_import)
        sys.modules.update(saved)
        importlib.reload(nodes_pkg)
    assert nodes_pkg.UNAVAILABLE == {}
