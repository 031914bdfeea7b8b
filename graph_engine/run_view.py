"""What a run looks like from Python: stages with their outputs, players and comparisons.

`PipelineRun` wraps the engine's `RunResult`; its stages read outputs from the
artifact store on demand. Notebook renderers are registered from outside the
engine into `DISPLAYS` (by class name), so the engine never imports the studio.
"""
from __future__ import annotations

import atexit
import threading
from typing import Any, Callable

from .engine import Engine, RunResult
from .pipeline import PipelineDoc
from .values import Audio

# Renderers by class name -> fn(obj) -> {mime: data}; filled by haysay.studio.notebook.
DISPLAYS: dict[str, Callable[[Any], dict[str, Any]]] = {}


class Displayable:
    """Objects that notebooks render richly when a renderer is registered, as text otherwise."""

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        bundle = {"text/plain": repr(self)}
        render = DISPLAYS.get(type(self).__name__)
        if render is not None:
            bundle.update(render(self))
        return bundle


# -- default engine ---------------------------------------------------------------------
_ENGINE: Engine | None = None
_ENGINE_LOCK = threading.Lock()


def default_engine() -> Engine:
    """The process-wide engine `Pipeline.run()` uses when given none (created on first use, closed at exit)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = Engine()
            atexit.register(_close_default)
        return _ENGINE


def set_default_engine(engine: Engine | None) -> None:
    """Use `engine` for runs without an explicit engine (None: create a fresh one on next use)."""
    global _ENGINE
    with _ENGINE_LOCK:
        _ENGINE = engine


def _close_default() -> None:
    if _ENGINE is not None:
        _ENGINE.close()

class ValidationReport(list, Displayable):
    """A list of GraphError (empty when the pipeline is ready); renders as a table."""

    @property
    def ok(self) -> bool:
        return not self

    def __repr__(self) -> str:
        return "no problems" if self.ok else "\n".join(f"{e.code}: {e}" for e in self)



# -- runs ------------------------------------------------------------------------------
class Stage(Displayable):
    """One node's part in a run: status, timing, cache hit, worker, and its stored outputs."""

    def __init__(self, run: "PipelineRun", node_id: str):
        self.run, self.node = run, node_id
        self.result = run.result.stages[node_id]

    status = property(lambda self: self.result.status)
    type = property(lambda self: self.result.type)
    cache_hit = property(lambda self: self.result.cache_hit)
    duration = property(lambda self: self.result.duration)
    worker = property(lambda self: self.result.worker)
    error = property(lambda self: self.result.error)
    cache_key = property(lambda self: self.result.cache_key)

    @property
    def outputs(self) -> dict[str, Any]:
        """{port: value} read from the artifact store (Audio stays lazy until read)."""
        if self.status not in ("done", "cached"):
            raise RuntimeError(f"stage {self.node} has no outputs: {self.status}" + (f" ({self.error})" if self.error else ""))
        return self.run.engine.store.open(self.cache_key)

    def value(self, port: str | None = None) -> Any:
        outs = self.outputs
        if port is None:
            return next(iter(outs.values()))
        if port not in outs:
            raise KeyError(f"{self.node} has no output {port!r} (outputs: {', '.join(outs)})")
        return outs[port]

    @property
    def audio(self) -> Audio:
        """The stage's first Audio output."""
        for v in self.outputs.values():
            if isinstance(v, Audio):
                return v
        raise AttributeError(f"stage {self.node} ({self.type}) has no Audio output")

    @property
    def audio_outputs(self) -> dict[str, Audio]:
        if self.status not in ("done", "cached"):
            return {}
        return {p: v for p, v in self.outputs.items() if isinstance(v, Audio)}

    def play(self) -> "Player":
        return Player(self.audio, f"{self.node}")

    def save(self, path, format: str | None = None, depth: str | None = None):
        """Write the stage's audio to a file, as `Audio.save` does: `run["norm"].save("norm.flac")`."""
        return self.audio.save(path, format, depth)

    def __repr__(self) -> str:
        dur = f"{self.duration:.2f}s" if self.duration is not None else "-"
        return f"<stage {self.node} ({self.type}) {self.status} cache_hit={self.cache_hit} {dur} worker={self.worker}>"


class Player(Displayable):
    """An inline audio player for notebooks."""

    def __init__(self, audio: Audio, label: str = ""):
        self.audio, self.label = audio, label

    def __repr__(self) -> str:
        return f"<player {self.label} {self.audio!r}>"


class Comparison(Displayable):
    """Two stages side by side: players, waveforms, spectrograms and level figures."""

    def __init__(self, a: Stage, b: Stage):
        self.a, self.b = a, b

    def __repr__(self) -> str:
        return f"<comparison {self.a.node} vs {self.b.node}>"


class PipelineRun(Displayable):
    """A finished run: `run["node"]` is a Stage; `run.outputs` the named outputs."""

    def __init__(self, doc: PipelineDoc, engine: Engine, result: RunResult):
        self.doc, self.engine, self.result = doc, engine, result

    run_id = property(lambda self: self.result.run_id)
    status = property(lambda self: self.result.status)
    ok = property(lambda self: self.result.ok)
    error = property(lambda self: self.result.error)
    duration = property(lambda self: self.result.duration)
    outputs = property(lambda self: self.result.outputs)

    def __getitem__(self, node_id: str) -> Stage:
        if node_id not in self.result.stages:
            raise KeyError(f"no stage {node_id!r} in this run (stages: {', '.join(self.result.stages)})")
        return Stage(self, node_id)

    @property
    def stages(self) -> list[Stage]:
        return [Stage(self, nid) for nid in self.result.stages]

    def compare(self, a: str, b: str) -> Comparison:
        return Comparison(self[a], self[b])

    def __repr__(self) -> str:
        return f"<run {self.run_id[:8]} {self.status} {self.duration:.2f}s stages={list(self.result.stages)}>"
