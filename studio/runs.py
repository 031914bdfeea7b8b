"""Runs started from the studio: the engine's blocking `run()` in a worker thread.

The engine reports stage events from its own threads; a `RunHandle` only
records them under a lock, and the page polls `snapshot()` from a UI timer,
so no NiceGUI element is ever touched off the event loop. `cancel()` sets the
event the engine watches; the run then ends `cancelled` within a poll of its own.
"""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from haysay.graph_engine import Engine, InvalidPipeline, PipelineDoc, RunResult, StageEvent


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
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def on_event(self, ev: StageEvent) -> None:
        with self._lock:
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


def start_run(engine: Engine, doc: PipelineDoc, inputs: dict[str, Any] | None = None,
              use_cache: bool = True) -> RunHandle:
    """Run `doc` in a daemon thread; the run is recorded in history by the engine like any other."""
    handle = RunHandle(doc, dict(inputs or {}))
    for n in doc.nodes:
        handle.states[n.id] = {"status": "queued", "progress": 0.0, "message": ""}

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
