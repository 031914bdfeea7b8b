"""The engine: validate a pipeline, compile it to Dask tasks, run what is not cached, record history.

    eng = Engine()                       # embedded LocalCluster, started only when something must run
    eng = Engine(scheduler="tcp://h:8786")  # the same graph on an existing cluster
    result = eng.run(doc, inputs={"text": "Hello"})

One Dask task per node whose output is not already in the artifact store;
tasks hand each other cache keys, never samples. Nodes that need a GPU ask
for the `GPU` worker resource, so they land only on workers started with
`--resources GPU=N` (and run anywhere when the cluster has no GPU worker).
"""
from __future__ import annotations

import functools
import json
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .cachekey import cache_key
from .config import Settings
from .contract import Registry, default_registry
from .errors import GraphError, InvalidPipeline
from .executor import PROGRESS_TOPIC, StageError, execute_chain, store_for
from .graph import Plan, plan
from .history import History
from .pipeline import PipelineDoc
from .streaming import BlockEvent, decode_block

# how long a run's first visit to the history keeps its connection for the run's end: a run that
# ends sooner opens the DuckDB file once (~15 ms saved); a longer one closes it meanwhile
KEEP_HISTORY_S = 0.3


@dataclass
class StageEvent:
    run_id: str
    node: str
    status: str  # queued | running | cached | done | failed | skipped
    progress: float | None = None
    message: str = ""
    block: BlockEvent | None = None  # a streaming stage's next block of output (see graph_engine.streaming)


@dataclass
class StageResult:
    node: str
    type: str
    status: str
    cache_key: str
    cache_hit: bool = False
    worker: str | None = None
    duration: float | None = None
    error: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)  # port -> "cache_key/port"
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    run_id: str
    status: str  # succeeded | failed | cancelled
    stages: dict[str, StageResult]
    outputs: dict[str, Any]
    error: str | None = None
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def computed(self) -> list[str]:
        return [n for n, s in self.stages.items() if s.status == "done"]

    @property
    def cached(self) -> list[str]:
        return [n for n, s in self.stages.items() if s.cache_hit]


class Engine:
    def __init__(self, settings: Settings | None = None, scheduler: str | None = None,
                 registry: Registry | None = None, processes: bool | None = None, n_workers: int = 1,
                 threads_per_worker: int | None = None, inline: bool | None = None):
        """`inline`: run local runs' tasks in this process without Dask's scheduler (see `runs_inline`);
        None (the default) decides per run, False always uses the cluster (also HAYSAY_INLINE=0)."""
        self.settings = settings or Settings.from_env(scheduler=scheduler)
        self.scheduler = scheduler or self.settings.scheduler
        self.registry = registry or default_registry()
        self.processes = processes if processes is not None else os.environ.get("HAYSAY_PROCESSES") == "1"
        self.n_workers, self.threads_per_worker = n_workers, threads_per_worker
        self.store = store_for(self.settings.artifacts)
        self._history: History | None = None
        self._client = None
        self._cluster = None
        self.inline = inline
        self._inline = None  # the InlineClient, made by the first run that runs inline
        self._listeners: dict[str, Callable[[StageEvent], None]] = {}
        self._lock = threading.Lock()
        self._history_lock = threading.Lock()
        self._swept = False

    # -- resources ---------------------------------------------------------------------
    @property
    def history(self) -> History:
        with self._history_lock:  # made once: threads that race to make it conflict in DuckDB
            if self._history is None:
                self._history = History(self.settings.history_path)
        return self._history

    @property
    def client(self):
        """The Dask client: an embedded LocalCluster unless a scheduler address was given."""
        with self._lock:
            if self._client is None:
                from distributed import Client, LocalCluster
                if self.scheduler:
                    self._client = Client(self.scheduler, timeout="20s")
                else:
                    self._cluster = LocalCluster(
                        n_workers=self.n_workers, processes=self.processes,
                        threads_per_worker=self.threads_per_worker or max(2, os.cpu_count() or 2),
                        dashboard_address=":0", resources=_local_gpu_resources())
                    self._client = Client(self._cluster)
                self._client.subscribe_topic(PROGRESS_TOPIC, self._on_progress)
            return self._client

    def attach(self, client) -> None:
        """Use an existing distributed Client (e.g. a test cluster with GPU-tagged workers)."""
        with self._lock:
            self._client = client
            client.subscribe_topic(PROGRESS_TOPIC, self._on_progress)

    def close(self) -> None:
        with self._lock:
            if self._inline is not None:
                self._inline.close()
                self._inline = None
            if self._client is not None:
                self._client.close()
            if self._cluster is not None:
                self._cluster.close()
            self._client = self._cluster = None

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _on_progress(self, event) -> None:
        msg = event[1] if isinstance(event, tuple) else event
        listener = self._listeners.get(msg.get("run_id"))
        if listener is not None:
            block = decode_block(msg["node"], msg["block"]) if msg.get("block") else None
            listener(StageEvent(msg["run_id"], msg["node"], msg["status"], msg.get("progress"), msg.get("message", ""),
                                block))

    def clean_leftovers(self) -> tuple[list[str], int]:
        """What killed processes left: their runs still marked `running` become `interrupted`, and
        tmp folders whose writer is gone are removed. Returns (run ids, tmp folders removed).
        The first run of each engine does this itself."""
        self._swept = True
        return self.history.interrupt_orphans(), self.store.clean_tmp()

    # -- planning ----------------------------------------------------------------------
    def plan(self, doc: PipelineDoc, inputs: Mapping[str, Any] | None = None,
             overrides: list[tuple[str, str, Any]] | None = None) -> Plan:
        return plan(doc, self.registry, inputs, overrides)

    def validate(self, doc: PipelineDoc, inputs: Mapping[str, Any] | None = None,
                 overrides: list[tuple[str, str, Any]] | None = None) -> list[GraphError]:
        return self.plan(doc, inputs, overrides).errors

    def keys(self, p: Plan) -> dict[str, str]:
        """Cache key of every node, upstream first (keys chain through input keys)."""
        keys: dict[str, str] = {}
        for nid in p.order():
            ups = {port: (keys[src], sp) for port, (src, sp) in p.upstream(nid).items()}
            keys[nid] = cache_key(p.spec(nid), p.params(nid), ups)
        return keys

    # -- running -----------------------------------------------------------------------
    def run(self, doc: PipelineDoc, inputs: Mapping[str, Any] | None = None,
            overrides: list[tuple[str, str, Any]] | None = None, use_cache: bool = True,
            on_event: Callable[[StageEvent], None] | None = None, run_id: str | None = None,
            job_id: str | None = None, cancel: threading.Event | None = None, retries: int = 0,
            output_dir: str | os.PathLike | None = None) -> RunResult:
        """Validate, then run every stage whose output is not cached. Raises InvalidPipeline.

        `output_dir`: where relative paths of files that nodes write (audio.save) land; default: the
        current folder."""
        if output_dir is not None:
            overrides = list(overrides or []) + self._output_paths(doc, overrides, Path(output_dir))
        p = self.plan(doc, inputs, overrides)
        if p.errors:
            raise InvalidPipeline(p.errors)
        if self.scheduler and not os.environ.get("HAYSAY_WORKER_MEMORY_MB"):
            too_big = self._beyond_cluster_memory(p)
            if too_big:
                raise InvalidPipeline(too_big)
        return self._run(p, doc, inputs, overrides, use_cache, on_event, run_id, job_id, cancel, retries)

    def _beyond_cluster_memory(self, p: Plan) -> list[GraphError]:
        """On a given cluster, the planned memory needs are held against its largest worker (Dask's
        memory_limit), not this machine's: the stage is refused before anything runs."""
        from .jobs.workers import capacity_of  # what job admission reads; jobs import this module

        cap = capacity_of(self.client)
        if not cap.max_memory_mb:  # no worker limit set: nothing caps the stages
            return []
        top = cap.max_memory_mb
        return [GraphError("memory", f"{p.spec(nid).type} needs about {p.memory_need_mb(nid):,.0f} MB for its "
                                     f"input, but the largest worker of the cluster at {self.scheduler} has "
                                     f"{top:,.0f} MB (Dask memory_limit, {cap.workers} worker(s)); shorten or split "
                                     "the audio, or start workers with more memory", node=nid)
                for nid in p.order() if p.graph.nodes[nid].get("memory_need_mb", 0) > top]

    def _output_paths(self, doc: PipelineDoc, overrides, output_dir: Path) -> list[tuple[str, str, Any]]:
        """Overrides that put every relative written-file path inside `output_dir`."""
        out = []
        for n in doc.nodes:
            spec = self.registry.get(n.type)
            for field in spec.output_file_fields() if spec is not None else ():
                value = n.params.get(field)
                for node_id, param, v in overrides or []:
                    if (node_id, param) == (n.id, field):
                        value = v
                if isinstance(value, str) and value and not os.path.isabs(os.path.expanduser(value)):
                    out.append((n.id, field, str(output_dir.resolve() / value)))
        return out

    def _run(self, p: Plan, doc: PipelineDoc, inputs, overrides, use_cache, on_event, run_id, job_id, cancel,
             retries) -> RunResult:
        run_id = run_id or uuid.uuid4().hex
        t0 = time.time()
        sweep, self._swept = not self._swept, True
        if sweep:
            self.store.clean_tmp()
        emit = on_event or (lambda ev: None)
        keys = self.keys(p)
        order = p.order()
        stages: dict[str, StageResult] = {}
        rows: list[dict[str, Any]] = []

        def row(nid: str, res: StageResult, start: float | None = None, end: float | None = None,
                params: dict | None = None) -> dict:
            from datetime import datetime, timezone
            ts = lambda t: datetime.fromtimestamp(t, timezone.utc).replace(tzinfo=None) if t else None  # noqa: E731
            params = p.params(nid).model_dump(mode="json") if params is None else params
            return {"run_id": run_id, "node_id": nid, "node_type": res.type,
                    "params_json": json.dumps(params, default=str), "cache_key": res.cache_key,
                    "cache_hit": res.cache_hit, "worker": res.worker, "status": res.status, "started_at": ts(start),
                    "ended_at": ts(end), "duration_s": res.duration, "error": res.error,
                    "artifact_ref": res.cache_key if res.status in ("done", "cached") else None,
                    "info_json": json.dumps(res.info, default=str) if res.info else None}

        to_run = []
        for nid in order:
            spec = p.spec(nid)
            res = StageResult(nid, spec.type, "queued", keys[nid],
                              outputs={port: f"{keys[nid]}/{port}" for port in spec.outputs})
            stages[nid] = res
            if use_cache and spec.cacheable and self.store.verify(keys[nid]):  # incomplete: recomputed, replaced
                res.status, res.cache_hit, res.duration = "cached", True, 0.0
                rows.append(row(nid, res))
                emit(StageEvent(run_id, nid, "cached", 1.0))
            else:
                to_run.append(nid)
        for nid, why in p.skipped.items():  # muted, or needing a muted node: not run, and the run goes on
            node = p.doc.node(nid)
            res = stages[nid] = StageResult(nid, node.type, "skipped", "", error=why)
            rows.append(row(nid, res, params=node.params))
            emit(StageEvent(run_id, nid, "skipped", None, why))
        # The history file is held only in short bursts (a held DuckDB file locks out every other
        # process, e.g. `haysay history` while a long run goes on): start + cached rows, then
        # batched stage rows while running, then the end.
        with self.history.session(keep_s=KEEP_HISTORY_S if to_run else 0.0):  # a short run's end takes it again
            if sweep:  # in this visit to the history: a separate one costs milliseconds
                self.history.interrupt_orphans()
            self.history.start_run(run_id, doc.to_dict(), doc.content_hash(), dict(inputs or {}),
                                   [list(o) for o in overrides or []], job_id)
            self.history.record_stages(rows)
            error = None
            status = "succeeded"
            if not to_run:
                self.history.finish_run(run_id, status, error)
        if to_run:
            unwritten: list[dict] = []
            status, error = "failed", "the engine stopped before the run ended"
            try:
                status, error = self._execute(p, run_id, keys, to_run, stages, emit, row, cancel, retries, unwritten,
                                          use_cache)
            finally:
                with self.history.session(close_behind=True):  # the last stage rows and the run's end in one visit
                    self.history.record_stages(unwritten)
                    self.history.finish_run(run_id, status, error)
        outputs = {}
        if status == "succeeded":
            for name, (nid, port) in p.outputs.items():
                outputs[name] = self.store.open(keys[nid])[port]
        return RunResult(run_id, status, stages, outputs, error, time.time() - t0)

    def _execute(self, p: Plan, run_id: str, keys: dict[str, str], to_run: list[str],
                 stages: dict[str, StageResult], emit, row, cancel, retries: int,
                 buffered: list[dict], use_cache: bool = True) -> tuple[str, str | None]:
        """Submit the chains, follow them to the end; stage rows not yet written stay in `buffered`."""
        task = execute_chain
        if self.runs_inline(p, to_run):
            client = self._inline_client()
            wait = client.wait
            task = functools.partial(execute_chain, shared={})  # chains in this process: small outputs in memory
        else:
            from distributed import wait
            client = self.client
        remote = None  # on a scheduler of other machines: checked workers, files at home (cluster.py)
        if self.scheduler and self._cluster is None:
            from .cluster import ClusterError, RemoteRun
            try:
                remote = RemoteRun.start(client, self.settings.artifacts, p, to_run)
            except ClusterError as exc:
                for nid in to_run:
                    stages[nid].status, stages[nid].error = "failed", str(exc)
                    buffered.append(row(nid, stages[nid]))
                return "failed", str(exc)
            for warning in remote.check.warnings:
                emit(StageEvent(run_id, "(cluster)", "warning", None, warning))
        has_gpu = remote.has_gpu() if remote is not None else \
            any(w.get("resources", {}).get("GPU") for w in client.scheduler_info(n_workers=-1)["workers"].values())
        # a stage of a fused chain says "done" from its worker as soon as it is stored, before its chain
        # ends; whichever of that and the chain's result comes first is passed on, once
        announced: set[str] = set()
        once = threading.Lock()

        def first_done(node: str) -> bool:
            with once:
                fresh = node not in announced
                announced.add(node)
                return fresh

        def relay(ev: StageEvent) -> None:
            self._mark_running(stages, ev)
            if ev.status != "done" or first_done(ev.node):
                emit(ev)

        self._listeners[run_id] = relay
        # stage rows reach DuckDB in batches (a visit costs milliseconds); the caller writes the rest
        last_flush = [time.time()]

        def record(r: dict) -> None:
            buffered.append(r)
            if time.time() - last_flush[0] > 0.5:
                self.history.record_stages(buffered)
                buffered.clear()
                last_flush[0] = time.time()

        def finished(out: dict) -> None:
            res = stages[out["node"]]
            res.status, res.worker = "done", out["worker"]
            res.duration, res.info = out["end"] - out["start"], out.get("info") or {}
            record(row(res.node, res, out["start"], out["end"]))
            if first_done(res.node):
                emit(StageEvent(run_id, res.node, "done", 1.0))

        owner: dict[str, Any] = {}  # node id -> the future of the task that runs it
        members: dict[Any, list[str]] = {}
        home_first, on_cluster, home_last = remote.split_home(p, to_run) if remote else ([], to_run, [])

        def at_home(nids: list[str]) -> list[str]:
            """Run client-side stages here, in order; returns the failure messages."""
            failed: list[str] = []
            for nid in nids:
                work = [(nid, p.spec(nid).type, p.params(nid).model_dump(mode="json"),
                         {port: (keys[src], sp) for port, (src, sp) in p.upstream(nid).items()}, keys[nid])]
                try:
                    for out in execute_chain(self.settings.artifacts, run_id, work, use_cache):
                        finished({**out, "worker": remote.home_name()})
                except StageError as exc:
                    res = stages[nid]
                    res.status, res.error = "failed", f"{exc.message} (on the {remote.home_name()})"
                    res.info = {**res.info, "traceback": exc.trace}
                    failed.append(f"{nid} ({res.type}) failed: {res.error}")
                    record(row(nid, res))
                    emit(StageEvent(run_id, nid, "failed", None, res.error))
                    break
            return failed

        try:
            failures: list[str] = at_home(home_first)
            if failures:
                for nid in on_cluster + home_last:
                    stages[nid].status, stages[nid].error = "skipped", "an input read on the client failed"
                    record(row(nid, stages[nid]))
                return "failed", "; ".join(failures)
            for chain in fuse_chains(p, on_cluster):
                head_ups = p.upstream(chain[0])
                deps = list({id(owner[src]): owner[src] for src, _ in head_ups.values() if src in owner}.values())
                work = [(nid, p.spec(nid).type, p.params(nid).model_dump(mode="json"),
                         {port: (keys[src], sp) for port, (src, sp) in p.upstream(nid).items()}, keys[nid])
                        for nid in chain]
                for nid in chain:  # before submitting: a worker thread may report "running" at once
                    emit(StageEvent(run_id, nid, "queued"))
                fut = client.submit(
                    task, self.settings.artifacts, run_id, work, use_cache, *deps,
                    key=f"haysay-{chain[0]}-{keys[chain[0]][:10]}-{run_id[:8]}", pure=False,
                    resources={"GPU": 1} if p.spec(chain[0]).gpu and has_gpu else None, retries=retries,
                    **(remote.submit_options() if remote else {}))
                members[fut] = chain
                for nid in chain:
                    owner[nid] = fut
            pending = dict(members)
            while pending:
                if cancel is not None and cancel.is_set():
                    client.cancel(list(pending))
                    for chain in pending.values():
                        for nid in chain:
                            stages[nid].status, stages[nid].error = "cancelled", "run cancelled"
                            record(row(nid, stages[nid]))
                            emit(StageEvent(run_id, nid, "cancelled"))
                    return "cancelled", "cancelled by user"
                for fut, why in (remote.expired(pending) if remote else {}).items():  # no worker can take it
                    client.cancel([fut])
                    for nid in pending.pop(fut):
                        stages[nid].status, stages[nid].error = "failed", f"no worker can run it: {why}"
                        failures.append(f"{nid} ({stages[nid].type}) failed: {stages[nid].error}")
                        record(row(nid, stages[nid]))
                        emit(StageEvent(run_id, nid, "failed", None, stages[nid].error))
                try:
                    done, _ = wait(list(pending), timeout=0.25, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    continue
                for fut in done:
                    chain = pending.pop(fut)
                    if fut.status == "finished":
                        outs = fut.result()
                        if remote:
                            remote.annotate(fut, outs)
                        for out in outs:
                            finished(out)
                        continue
                    where = remote.where(fut) if remote else ""
                    exc = fut.exception() if fut.status == "error" else None
                    for out in getattr(exc, "completed", []) if isinstance(exc, StageError) and exc.node_id in chain else []:
                        finished(out)
                    for nid in chain:
                        res = stages[nid]
                        if res.status == "done":
                            continue
                        if isinstance(exc, StageError) and exc.node_id == nid:
                            res.status, res.error = "failed", exc.message + where
                            res.info = {**res.info, "traceback": exc.trace}
                            failures.append(f"{nid} ({res.type}) failed: {res.error}")
                        elif isinstance(exc, StageError):
                            res.status, res.error = "skipped", f"upstream {exc.node_id} failed"
                        else:
                            res.status, res.error = "failed", f"{fut.status}: {exc}{where}"
                            failures.append(f"{nid} ({res.type}) failed: {res.error}")
                        record(row(nid, res))
                        emit(StageEvent(run_id, nid, res.status, None, res.error or ""))
            if not failures:
                failures += at_home(home_last)
            else:
                for nid in home_last:
                    stages[nid].status, stages[nid].error = "skipped", "an upstream stage failed"
                    record(row(nid, stages[nid]))
            return ("failed", "; ".join(failures)) if failures else ("succeeded", None)
        finally:
            self._listeners.pop(run_id, None)

    def runs_inline(self, p: Plan, to_run: list[str]) -> bool:
        """Whether these stages run in this process rather than on the Dask cluster. The embedded
        cluster is one worker of threads in this process, and validation has held every stage to
        that worker's memory, so a local run always fits it: only the scheduler's round trips and
        start-up are saved. The cluster stays for what only it gives: a scheduler address or an
        attached client, worker processes or several workers, and GPU stages on a machine with a GPU
        (where the `GPU` resource keeps them one per device)."""
        if self.inline is False or os.environ.get("HAYSAY_INLINE", "").strip() in ("0", "no", "false", "off"):
            return False
        if self._client is not None or self.scheduler or self.processes or self.n_workers != 1:
            return False
        return not (any(p.spec(n).gpu for n in to_run) and _local_gpu_resources())

    def _inline_client(self):
        with self._lock:
            if self._inline is None:
                from .inline import InlineClient
                self._inline = InlineClient(self.threads_per_worker, on_event=self._on_progress)
            return self._inline

    @staticmethod
    def _mark_running(stages: dict[str, StageResult], ev: StageEvent) -> None:
        res = stages.get(ev.node)
        if res is not None and res.status == "queued" and ev.status == "running":
            res.status = "running"


def fuse_chains(p: Plan, to_run: list[str]) -> list[list[str]]:
    """Group the stages to run into linear chains, each one Dask task.

    A stage joins its upstream's chain when that upstream is its only producer still to run,
    it is that upstream's only consumer, and both want the same kind of worker. A chain then
    pays one scheduler round trip instead of one per stage (Dask batches its messages every
    few ms), while independent branches stay separate tasks and run in parallel."""
    running = set(to_run)
    chain_of: dict[str, list[str]] = {}
    chains: list[list[str]] = []
    for nid in to_run:  # topological order
        producers = {src for src, _ in p.upstream(nid).values() if src in running}
        if len(producers) == 1:
            (up,) = producers
            consumers = [n for n in p.graph.successors(up) if n in running]
            chain = chain_of[up]
            if consumers == [nid] and chain[-1] == up and p.spec(up).gpu == p.spec(nid).gpu:
                chain.append(nid)
                chain_of[nid] = chain
                continue
        chain_of[nid] = [nid]
        chains.append(chain_of[nid])
    return chains


def _gpu_devices_present() -> bool:
    """Whether this machine shows a GPU device at all: where it shows none, asking torch (seconds of
    import) is skipped. Linux exposes CUDA, ROCm and WSL GPUs as device files."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    if not sys.platform.startswith("linux"):
        return True  # no cheap look elsewhere: torch decides
    import glob
    return bool(glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/dev/kfd") or os.path.exists("/dev/dxg"))


def _local_gpu_resources() -> dict[str, int] | None:
    if not _gpu_devices_present():
        return None
    try:
        import torch
        n = torch.cuda.device_count()
    except Exception:
        n = 0
    return {"GPU": n} if n else None
