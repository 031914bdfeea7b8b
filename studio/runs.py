"""Runs started from the studio: the engine's blocking `run()` in a worker thread.

The engine reports stage events from its own threads; a `RunHandle` only
records them under a lock, and the page polls `snapshot()` from a UI timer,
so no NiceGUI element is ever touched off the event loop. `cancel()` sets the
event the engine watches; the run then ends `cancelled` within a poll of its own.
A streaming stage's blocks (`StageEvent.block`) are kept by the handle as they
come, for the stream player's route (stream_routes.py) to hand to the page.
"""
from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from haysay.graph_engine import Engine, InvalidPipeline, PipelineDoc, RunResult, StageEvent
from haysay.graph_engine.streaming import BlockEvent

LIVE_RUNS = 8  # runs whose streamed blocks a studio keeps for its players (the newest)


@dataclass
class RunSnapshot:
    states: dict[str, dict[str, Any]]
    finished: bool
    result: RunResult | None
    error: str | None
    version: int


@dataclass
class RunHandle:
    doc: PipelineDoc
    inputs: dict[str, Any] = field(default_factory=dict)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    result: RunResult | None = None
    error: str | None = None
    finished: bool = False
    started: float = field(default_factory=time.time)
    version: int = 0
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    blocks: dict[str, list[BlockEvent]] = field(default_factory=dict)  # streaming stage -> its blocks so far
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def on_event(self, ev: StageEvent) -> None:
        with self._lock:
            if ev.block is not None:
                self.blocks.setdefault(ev.node, []).append(ev.block)
            prev = self.states.get(ev.node, {})
            progress = ev.progress if ev.progress is not None else prev.get("progress", 0.0)
            if ev.status == "running" and prev.get("status") in ("done", "cached", "failed", "cancelled"):
                return  # a late progress message after the stage ended
            self.states[ev.node] = {"status": ev.status, "progress": float(progress or 0.0), "message": ev.message}
            self.version += 1

    def cancel(self) -> None:
        """Ask the engine to stop the run; stages not finished yet end `cancelled`."""
        self.cancel_event.set()

    @property
    def cancelling(self) -> bool:
        return self.cancel_event.is_set() and not self.finished

    def block(self, node: str, index: int) -> tuple[BlockEvent | None, int, str]:
        """A streaming stage's block `index` if it has come, the blocks come so far, and the stage's status."""
        with self._lock:
            got = self.blocks.get(node, [])
            status = self.states.get(node, {}).get("status", "unknown")
            return (got[index] if 0 <= index < len(got) else None), len(got), status

    def streamed(self, node: str) -> bool:
        with self._lock:
            return bool(self.blocks.get(node))

    def snapshot(self) -> RunSnapshot:
        with self._lock:
            return RunSnapshot({k: dict(v) for k, v in self.states.items()}, self.finished, self.result, self.error,
                               self.version)

    def _finish(self, result: RunResult | None, error: str | None) -> None:
        with self._lock:
            self.result, self.error, self.finished = result, error, True
            if result is not None:  # the result is the final word on every stage
                for nid, st in result.stages.items():
                    old = self.states.get(nid, {})
                    self.states[nid] = {"status": st.status, "progress": 1.0 if st.status in ("done", "cached") else
                                        old.get("progress", 0.0), "message": st.error or ""}
            self.version += 1


class LiveRuns:
    """The studio's newest runs by id, for routes that serve what a run streams while it goes."""

    def __init__(self, keep: int = LIVE_RUNS):
        self.keep, self._runs, self._lock = keep, OrderedDict(), threading.Lock()

    def add(self, handle: RunHandle) -> RunHandle:
        with self._lock:
            self._runs[handle.id] = handle
            while len(self._runs) > self.keep:
                self._runs.popitem(last=False)
        return handle

    def get(self, run_id: str) -> RunHandle | None:
        with self._lock:
            return self._runs.get(run_id)


def start_run(engine: Engine, doc: PipelineDoc, inputs: dict[str, Any] | None = None,
              use_cache: bool = True, live: LiveRuns | None = None) -> RunHandle:
    """Run `doc` in a daemon thread; the run is recorded in history by the engine like any other.
    With `live`, the handle is registered there before the run starts, so its streams can be served."""
    handle = RunHandle(doc, dict(inputs or {}))
    for n in doc.nodes:
        handle.states[n.id] = {"status": "queued", "progress": 0.0, "message": ""}
    if live is not None:
        live.add(handle)

    def work() -> None:
        try:
            result = engine.run(doc, inputs=handle.inputs, use_cache=use_cache, on_event=handle.on_event,
                                cancel=handle.cancel_event)
            handle._finish(result, result.error)
        except InvalidPipeline as exc:
            handle._finish(None, "; ".join(str(e) for e in exc.errors))
        except Exception as exc:  # keep the studio alive and say what happened
            traceback.print_exc()
            handle._finish(None, f"{type(exc).__name__}: {exc}")

    threading.Thread(target=work, name="haysay-studio-run", daemon=True).start()
    return handle
