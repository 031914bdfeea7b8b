"""Job tests: test-only node types, pipelines built from them, runners that always stop."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))  # `slow_nodes` must import by name: subprocesses and workers load it too

import slow_nodes  # noqa: E402

from haysay.graph_engine import Engine, Settings, default_registry, parse_pipeline  # noqa: E402
from haysay.graph_engine.jobs import JobRunner  # noqa: E402

default_registry(reload=True)


def pipe(nodes: list[tuple[str, str, dict]], edges: list[tuple[str, str]] = (), out: str | None = None,
         name: str = "test"):
    """A pipeline doc from (id, type, params) triples; the output is the last node's audio."""
    doc = {"format": "haysay.pipeline/1", "name": name,
           "nodes": [{"id": i, "type": t, "params": p} for i, t, p in nodes],
           "edges": [{"from": f"{a}.audio", "to": f"{b}.audio"} for a, b in edges],
           "outputs": {"audio": f"{out or nodes[-1][0]}.audio"}}
    return parse_pipeline(doc)


@pytest.fixture
def node_path(monkeypatch):
    """PYTHONPATH with slow_nodes, for subprocesses and process workers."""
    monkeypatch.setenv("PYTHONPATH", str(HERE))
    return str(HERE)


@pytest.fixture
def make_runner(haysay_home):
    """make_runner(client=None, **JobRunner kwargs) -> a started runner, stopped at teardown."""
    made = []

    def make(client=None, **kw):
        engine = Engine(Settings.from_env())
        if client is not None:
            engine.attach(client)
        runner = JobRunner(engine, **kw).start()
        made.append((runner, engine))
        return runner

    yield make
    slow_nodes.STOP.set()
    for runner, engine in made:
        runner.stop()
        engine.close()
    slow_nodes.STOP.clear()
