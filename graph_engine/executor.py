"""What runs on a Dask worker: one stage, from stored inputs to a stored artifact.

Tasks pass only cache keys between them; the data stays in the artifact
store, so a stage streams its inputs from zarr and writes its outputs there.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import Any, Callable

from .contract import MemorySink, NodeContext, default_registry, run_stream
from .store import ArtifactStore
from .streaming import encode_block, run_blocks, streams
from .values import F0, Audio, Features

PROGRESS_TOPIC = "haysay-progress"
_STORES: dict[str, ArtifactStore] = {}
_LOCK = threading.Lock()


class _QuietStageFailures(logging.Filter):
    """Drops Dask's "Compute Failed ... Traceback" record for haysay's own tasks: the user sees the
    engine's located error instead, and the trace is kept in the stage's history row."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (str(record.msg).startswith("Compute Failed") and record.args
                    and str(record.args[0]).startswith("haysay-"))


# installed wherever stages run: this module is imported by every worker (thread or process) that runs one
if not any(isinstance(f, _QuietStageFailures) for f in logging.getLogger("distributed.worker").filters):
    logging.getLogger("distributed.worker").addFilter(_QuietStageFailures())


def store_for(root: str) -> ArtifactStore:
    with _LOCK:
        if root not in _STORES:
            _STORES[root] = ArtifactStore(root)
        return _STORES[root]


class _InlineHooks(threading.local):
    """Set by `inline.InlineClient` on the thread running a stage outside any Dask worker: where its
    progress goes and whether its run was cancelled. Looked at first, so an inline run never imports
    `distributed`."""

    emit: Callable[[dict], None] | None = None
    cancelled: Callable[[], bool] | None = None


inline_hooks = _InlineHooks()


def _worker_address() -> str:
    if inline_hooks.emit is not None:
        return "local"
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return "local"


def _task_cancelled() -> bool:
    """Whether the scheduler has let go of the task this thread runs (the run was cancelled).

    Dask cannot stop a running thread, so a stage notices this itself each time it reports
    progress, and stops there."""
    if inline_hooks.cancelled is not None:
        return inline_hooks.cancelled()
    try:
        from distributed import get_worker
        from distributed.worker import thread_state
        ts = get_worker().state.tasks.get(thread_state.key)
    except (ImportError, ValueError, AttributeError):
        return False
    return ts is None or ts.state in ("cancelled", "released", "forgotten")


class StageCancelled(RuntimeError):
    pass


def _emit(run_id: str, node_id: str, status: str, progress: float | None = None, message: str = "",
          block: dict | None = None) -> None:
    msg = {"run_id": run_id, "node": node_id, "status": status, "progress": progress, "message": message}
    if block is not None:  # a streaming stage's block (streaming.encode_block)
        msg["block"] = block
    if inline_hooks.emit is not None:
        inline_hooks.emit(msg)
        return
    try:
        from distributed import get_worker
        get_worker().log_event(PROGRESS_TOPIC, msg)
    except (ImportError, ValueError):
        pass


class StageError(RuntimeError):
    """A node raised; carries the node id and a short traceback for history."""

    def __init__(self, node_id: str, node_type: str, message: str, trace: str = "", completed: list | None = None):
        super().__init__(f"{node_id} ({node_type}): {message}")
        self.node_id, self.node_type, self.message, self.trace = node_id, node_type, message, trace
        self.completed = completed or []  # results of the stages of the same chain that finished first

    def __reduce__(self):
        return (StageError, (self.node_id, self.node_type, self.message, self.trace, self.completed))


SMALL_AUDIO = 1 << 20  # samples (all channels): stored inputs up to this size are read whole


def _small(value: Any) -> bool:
    """Whether an output is small enough to keep in memory for the rest of a local run."""
    if isinstance(value, Audio):
        return value.in_memory and value.channels * value.frames <= SMALL_AUDIO
    data = value.hz if isinstance(value, F0) else getattr(value, "data", value)
    if hasattr(data, "nbytes"):  # arrays, features, pitch: a few MB at most
        return data.nbytes <= 4 * SMALL_AUDIO
    return not isinstance(value, str) or len(value) <= SMALL_AUDIO


def _copy(value: Any) -> Any:
    if isinstance(value, Audio):
        return Audio(value.data.copy(), value.sample_rate)
    if isinstance(value, F0):
        return F0(value.times.copy(), value.hz.copy(), value.confidence.copy())
    if isinstance(value, Features):
        return Features(value.data.copy(), value.frame_rate)
    return value.copy() if hasattr(value, "nbytes") else value


def _input_value(store: ArtifactStore, key: str, port: str, memo: dict, shared: dict | None = None) -> Any:
    if (key, port) in memo:
        return memo[(key, port)]
    if shared is not None and (key, port) in shared:
        return _copy(shared[(key, port)])  # each reader its own, as a read from the store would give
    value = store.open(key)[port]
    if isinstance(value, Audio) and not value.in_memory and value.channels * value.frames <= SMALL_AUDIO:
        value = Audio(value.numpy(), value.sample_rate)
    return value


def _run_stage(store_root: str, run_id: str, node_id: str, type_id: str, params: dict[str, Any],
               inputs: dict[str, tuple[str, str]], key: str, memo: dict, reuse: bool = True,
               shared: dict | None = None) -> dict[str, Any]:
    """Run one node. `inputs` maps input port -> (upstream cache key, upstream port); `memo` holds
    in-memory outputs of earlier stages of the same chain, by (key, port); `shared` (a local run's
    chains, all in this process) the small ones of every chain of the run."""
    start = time.time()
    worker = _worker_address()
    store = store_for(store_root)
    if reuse and store.verify(key):  # a retried chain (after a lost worker) or a concurrent run stored it
        return {"key": key, "node": node_id, "worker": worker, "start": start, "end": time.time(),
                "info": {"reused": True}}
    spec = default_registry()[type_id]
    _emit(run_id, node_id, "running", 0.0)
    writer = store.writer(key)
    last = [0.0]

    def progress(fraction: float, message: str = "") -> None:
        if _task_cancelled():
            raise StageCancelled("the run was cancelled")
        now = time.time()
        if now - last[0] >= 0.2 or fraction >= 1.0:
            last[0] = now
            _emit(run_id, node_id, "running", fraction, message)

    ctx = NodeContext(node_id, progress=progress, audio_sink=writer.audio_sink)
    try:
        model = spec.params.model_validate(params)
        values = {port: _input_value(store, k, p, memo, shared) for port, (k, p) in inputs.items()}
        if spec.blockwise:
            port = next(iter(spec.outputs))
            # small in-memory inputs stay in memory; stored long ones stream into the store
            small = all(isinstance(v, Audio) and v.in_memory for v in values.values())
            sink = MemorySink if small else (lambda rate, ch: writer.audio_sink(port, rate, ch))
            outputs = {port: run_stream(spec, model, values, sink, progress=progress)}
        elif streams(spec, model):
            outputs = {next(iter(spec.outputs)): run_blocks(
                spec, model, ctx, values, lambda ev: _emit(run_id, node_id, "running", None, "", encode_block(ev)))}
        else:
            outputs = spec.call(model, ctx=ctx, **values)
        # an output that *is* an input (pass-through) is stored as a reference, not copied
        aliases = {p: inputs[ip] for p, v in outputs.items() for ip, iv in values.items() if v is iv}
        stored = writer.commit(outputs, {"node_id": node_id, "node_type": type_id, "node_version": spec.version,
                                         "params": params, "run_id": run_id}, aliases=aliases, refresh=not reuse)
    except Exception as exc:
        writer.abort()
        raise StageError(node_id, type_id, f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=8)) from None
    if not stored:  # a forced recompute gave other content than the stored artifact, which is kept
        ctx.info["kept_stored"] = True
    for port, value in outputs.items():
        if stored and isinstance(value, Audio) and not value.in_memory and port in writer.sinks:
            value = writer.sinks[port].kept() or value  # streamed into the store: a short one was kept too
        if stored and (not isinstance(value, Audio) or value.in_memory):  # stored zarr arrays are reopened instead
            memo[(key, port)] = value
            if shared is not None and _small(value):
                shared[(key, port)] = value
    end = time.time()
    _emit(run_id, node_id, "done", 1.0)  # now, not when the whole chain ends
    return {"key": key, "node": node_id, "worker": worker, "start": start, "end": end, "info": ctx.info}


def execute_chain(store_root: str, run_id: str, work: list[tuple], reuse: bool, *upstream: Any,
                  shared: dict | None = None) -> list[dict[str, Any]]:
    """Run a linear chain of stages in order, in one task. `work` holds
    (node_id, type_id, params, inputs, key) per stage; each stage is stored as it finishes.
    With `reuse`, a stage already stored (a retry after a lost worker) is not computed again.
    `shared`: where a local run's chains pass each other small outputs without reading them back
    from the store (a fan-out's branches all read their source)."""
    done: list[dict[str, Any]] = []
    memo: dict = {}
    for node_id, type_id, params, inputs, key in work:
        try:
            done.append(_run_stage(store_root, run_id, node_id, type_id, params, inputs, key, memo, reuse, shared))
        except StageError as exc:
            exc.completed = done
            raise
    return done
