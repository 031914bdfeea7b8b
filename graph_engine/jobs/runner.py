"""JobRunner: the in-process orchestrator that runs queued jobs in lanes.

    runner = JobRunner().start()          # takes the orchestrator lock, recovers, starts dispatching
    job_id = runner.submit(doc, inputs={"text": "Hi"})
    runner.wait(job_id).state             # 'succeeded'
    runner.stop()

The studio and notebooks embed one; `haysay jobs serve` runs one in the
foreground. Jobs are scheduled per lane (GPU-tagged vs CPU-only) with a
bounded number running in each, so long GPU jobs never hold up short CPU
ones. Each job is one `Engine.run` in its own thread; the dispatcher thread
ingests spooled requests, applies cancel/resume requests, enforces timeouts
(by setting the run's cancel event) and starts what the lanes have room for.

On start, jobs a dead orchestrator left `running` are settled from history:
one whose run had ended takes that run's outcome (a succeeded run is not run
again); the others become `interrupted` and, unless `auto_resume` is off (or
HAYSAY_JOBS_AUTO_RESUME=0), are queued again with every interrupted job, their
finished stages then being cache hits.
"""
from __future__ import annotations

import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..engine import Engine, StageEvent
from ..errors import InvalidPipeline
from ..history import History
from ..pipeline import PipelineDoc, parse_pipeline
from .model import (CANCELLED, CPU_LANE, FAILED, GPU_LANE, INTERRUPTED, QUEUED, RUNNING, SUCCEEDED,
                    BadTransition, Job, JobPolicy, JobRequest)
from .queue import JobStore
from .spool import Spool
from .workers import (ALLOWED_FAILURES, AdmissionRefused, Capacity, NodeModules, admit, allowed_failures,
                      capacity_of, load_node_modules, needs_of)

DEFAULT_LANES = {CPU_LANE: 2, GPU_LANE: 1}
CRASH_REASON = "interrupted: the orchestrator stopped while the job ran (crash or kill); `haysay jobs resume` re-runs it"
RUN_OUTCOMES = {"succeeded": SUCCEEDED, "failed": FAILED, "cancelled": CANCELLED}  # a run's end -> its job's
STOP_REASON = "interrupted: the orchestrator was shut down while the job ran"
WORKER_LOST = "workers died while running"


@dataclass
class _Active:
    job_id: str
    run_id: str
    lane: str
    policy: JobPolicy
    types: dict[str, str]
    cancel: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.time)
    node_started: dict[str, float] = field(default_factory=dict)
    node_finished: set[str] = field(default_factory=set)
    reason: str | None = None  # why the runner (not the user) stopped it
    end_state: str = CANCELLED


class JobRunner:
    def __init__(self, engine: Engine | None = None, lanes: Mapping[str, int] | None = None,
                 poll_s: float = 0.2, worker_loss_retries: int = 3, node_modules: list[str] | None = None,
                 merge_lanes: bool = False, on_change: Callable[[Job], None] | None = None,
                 on_stage: Callable[[str, StageEvent], None] | None = None, auto_resume: bool | None = None):
        """`lanes`: most jobs running at once per lane ({"cpu": 2, "gpu": 1}); `merge_lanes` puts
        every job in one FIFO (for comparison). `worker_loss_retries` is Dask's allowed-failures
        for the embedded cluster. `node_modules`: extra modules defining node types.
        `auto_resume`: queue interrupted jobs again on start (default: HAYSAY_JOBS_AUTO_RESUME, on)."""
        self.node_modules = list(node_modules or [])
        load_node_modules(self.node_modules)
        self._own_engine = engine is None
        self.engine = engine or Engine()
        if self.node_modules:
            from ..contract import default_registry
            self.engine.registry = default_registry()
        self.lanes = {**DEFAULT_LANES, **(lanes or {})}
        for lane, n in self.lanes.items():
            if lane not in (CPU_LANE, GPU_LANE) or not isinstance(n, int) or n < 1:
                raise ValueError(f"lanes: {lane}={n!r}; lanes are cpu and gpu, each with at least 1 running job")
        self.merge_lanes = merge_lanes
        self.poll_s = poll_s
        self.worker_loss_retries = worker_loss_retries
        self.on_change, self.on_stage = on_change, on_stage
        self.history: History = self.engine.history
        self.store = JobStore(self.history)
        self.spool = Spool(self.engine.settings.home)
        self._active: dict[str, _Active] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._dispatcher: threading.Thread | None = None
        self._capacity: tuple[float, Capacity] | None = None
        self._pause = threading.Lock()  # held while pruning: no job starts then
        self._status_dirty, self._status_at = True, 0.0
        self._missed_start = False
        if auto_resume is None:
            auto_resume = os.environ.get("HAYSAY_JOBS_AUTO_RESUME", "1").strip().lower() not in ("0", "no", "false", "off")
        self.auto_resume = auto_resume
        self.recovered: list[str] = []  # left running by a dead orchestrator, now interrupted
        self.settled: list[str] = []  # left running, but their run had ended: its outcome taken from history
        self.resumed: list[str] = []  # interrupted jobs queued again on start

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> "JobRunner":
        """Take the orchestrator lock (OrchestratorBusy if another process holds it), turn jobs a
        crashed orchestrator left running into `interrupted`, and start dispatching."""
        self.spool.lock()
        try:
            import dask
            with dask.config.set({ALLOWED_FAILURES: self.worker_loss_retries}):
                client = self.engine.client  # the embedded cluster's scheduler reads the setting now
            if self.node_modules:
                client.register_plugin(NodeModules(self.node_modules))
            self.recover()
            self.engine.clean_leftovers()
            self.spool.publish({"capacity": self.capacity().to_dict(), "lanes": self.lanes})
            if self.auto_resume:
                self._resume_interrupted()
        except BaseException:
            self.spool.unlock()
            raise
        self._wake.set()  # jobs queued before this start (resumed offline, left by a crash) are due now
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="haysay-jobs", daemon=True)
        self._dispatcher.start()
        return self

    def recover(self) -> list[str]:
        """Jobs left `running` by a dead orchestrator: one whose last run ended (the crash came
        between the run's end and the job's) takes that outcome from history; the others become
        `interrupted` (their runs too), and are returned. Only the lock holder may call it:
        holding the lock proves no other orchestrator lives."""
        if not self.spool.locked:
            raise RuntimeError("recover() needs the orchestrator lock")
        self.recovered, self.settled = [], []
        for job in self.store.list(state=RUNNING, limit=1_000_000):
            outcome = self._outcome_from_history(job)
            if outcome is not None:
                state, reason, values = outcome
                self.store.transition(job.job_id, state, reason, expect=RUNNING, **values)
                self.settled.append(job.job_id)
                continue
            self.store.transition(job.job_id, INTERRUPTED, CRASH_REASON, expect=RUNNING)
            self._close_runs(self.store.get(job.job_id), "interrupted", CRASH_REASON)
            self.recovered.append(job.job_id)
        return self.recovered

    def _outcome_from_history(self, job: Job) -> tuple[str, str | None, dict] | None:
        """(state, reason, fields) when the job's last run ended, else None. A succeeded run counts
        only while every output it stored is still there and whole."""
        rec = self.history.run(job.run_ids[-1]) if job.run_ids else None
        state = RUN_OUTCOMES.get(rec.status) if rec is not None and rec.run_id == job.run_ids[-1] else None
        if state is None:
            return None
        if state != SUCCEEDED:
            return state, f"{rec.error or rec.status} (settled from history after a restart)", {}
        try:
            req = job.request
            p = self.engine.plan(parse_pipeline(req.pipeline), req.inputs, [tuple(o) for o in req.overrides])
            keys = self.engine.keys(p)
            outputs = {name: f"{keys[nid]}/{port}" for name, (nid, port) in p.outputs.items()}
        except Exception:  # it cannot be planned here any more: let a re-run say why
            return None
        if not all(self.engine.store.verify(ref.split("/")[0]) for ref in outputs.values()):
            return None
        return SUCCEEDED, "succeeded before the orchestrator stopped (from history)", {"outputs_json": json.dumps(outputs)}

    def _resume_interrupted(self) -> None:
        """Queue every interrupted job again (a job that can no longer be admitted stays interrupted)."""
        self.resumed = []
        for job in self.store.list(state=INTERRUPTED, limit=1_000_000):
            try:
                self.resume(job.job_id, reason="resumed automatically when the orchestrator started")
            except (InvalidPipeline, AdmissionRefused, ValueError) as exc:
                print(f"haysay jobs: not resuming {job.job_id}: {exc}")
                continue
            self.resumed.append(job.job_id)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop dispatching; jobs still running are cancelled and left `interrupted` (resumable)."""
        self._stopping.set()
        self._wake.set()
        with self._lock:
            for act in self._active.values():
                act.reason, act.end_state = STOP_REASON, INTERRUPTED
                act.cancel.set()
            threads = list(self._threads.values())
        deadline = time.time() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.time()))
        if self._dispatcher is not None:
            self._dispatcher.join(max(0.1, deadline - time.time()))
        self._publish_status(force=True)
        if self._own_engine:
            self.engine.close()
        self.spool.unlock()

    def __enter__(self) -> "JobRunner":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve(self, stop: threading.Event | None = None, exit_when_idle: bool = False) -> None:
        """Block until `stop` is set (or, with exit_when_idle, until nothing is queued or running)."""
        stop = stop or threading.Event()
        while not stop.wait(self.poll_s):
            if exit_when_idle and self.idle():
                return

    def idle(self) -> bool:
        with self._lock:
            if self._active:
                return False
        counts = self.store.counts()
        return not counts.get(QUEUED) and not counts.get(RUNNING) and not self.spool.pending()

    # -- API ---------------------------------------------------------------------------
    def capacity(self, max_age_s: float = 5.0) -> Capacity:
        now = time.time()
        if self._capacity is None or now - self._capacity[0] > max_age_s:
            self._capacity = (now, capacity_of(self.engine.client))
        return self._capacity[1]

    def allowed_failures(self) -> int:
        return allowed_failures(self.engine.client)

    def submit(self, pipeline: PipelineDoc | dict | JobRequest, inputs: Mapping[str, Any] | None = None,
               overrides: list[tuple[str, str, Any]] | None = None, **request: Any) -> str:
        """Queue a job and return its id at once. Raises InvalidPipeline (with every located
        problem) or AdmissionRefused (needs more than any worker offers); nothing is queued then."""
        if isinstance(pipeline, JobRequest):
            req = pipeline
        else:
            doc = pipeline.to_dict() if isinstance(pipeline, PipelineDoc) else dict(pipeline)
            req = JobRequest(pipeline=doc, inputs=dict(inputs or {}), overrides=list(overrides or []),
                             submitted_at=time.time(), **request)
        if req.submitted_at is None:
            req = req.model_copy(update={"submitted_at": time.time()})
        needs = self._check(req)
        self.store.add(req, needs)
        self._changed(req.job_id)
        return req.job_id

    def cancel(self, job_id: str) -> Job:
        """Queued or interrupted: cancelled now, never runs. Running: its tasks are cancelled and it
        ends `cancelled` shortly (wait() for it)."""
        job = self.store.get(job_id)
        with self._lock:
            act = self._active.get(job.job_id)
            if act is not None:
                act.cancel.set()
                return job
        if job.state in (QUEUED, INTERRUPTED):
            try:
                self.store.transition(job.job_id, CANCELLED, "cancelled by user", expect=job.state)
            except BadTransition:  # it started meanwhile: cancel the run instead
                return self.cancel(job_id)
            self._changed(job.job_id)
        elif job.state == RUNNING:  # a run we do not own (left by a crash before recovery)
            raise BadTransition(f"job {job.job_id} is running in no live orchestrator")
        return self.store.get(job.job_id)

    def resume(self, job_id: str, check: bool = True, reason: str = "resumed") -> Job:
        """Queue an interrupted, failed or cancelled job again; stages it already finished are cache hits.
        `check=False` leaves validation to the orchestrator that will run it (it may know more node types)."""
        job = self.store.get(job_id)
        if check:
            self._check(job.request)
        self.store.transition(job.job_id, QUEUED, reason, expect=job.state)
        self._changed(job.job_id)
        return self.store.get(job.job_id)

    def get(self, job_id: str) -> Job:
        return self.store.get(job_id)

    def list(self, **filters: Any) -> list[Job]:
        return self.store.list(**filters)

    def wait(self, job_id: str, timeout: float | None = None, states: tuple[str, ...] = (SUCCEEDED, FAILED, CANCELLED, INTERRUPTED)) -> Job:
        """Block until the job reaches one of `states` (default: it stopped); TimeoutError past `timeout`."""
        deadline = None if timeout is None else time.time() + timeout
        while True:
            job = self.store.get(job_id)
            if job.state in states:
                return job
            if deadline is not None and time.time() > deadline:
                raise TimeoutError(f"job {job_id} still {job.state} after {timeout}s")
            time.sleep(0.05)

    # -- dispatching -------------------------------------------------------------------
    def _check(self, req: JobRequest, admission: bool = True):
        doc = parse_pipeline(req.pipeline)
        p = self.engine.plan(doc, req.inputs, [tuple(o) for o in req.overrides])
        if p.errors:
            raise InvalidPipeline(p.errors)
        needs = needs_of(p)
        if admission:
            admit(needs, self.capacity())
        return needs

    def _changed(self, job_id: str | None = None) -> None:
        self._status_dirty = True
        self._wake.set()
        if self.on_change is not None and job_id is not None:
            try:
                self.on_change(self.store.get(job_id))
            except Exception:  # a UI callback must not take the orchestrator down
                pass

    def _dispatch_loop(self) -> None:
        while not self._stopping.is_set():
            dirty = self._wake.wait(self.poll_s)
            self._wake.clear()
            try:
                dirty = self.ingest() or dirty
                self._controls()
                self._enforce_timeouts()
                if dirty or self._missed_start:
                    self._start_ready()
                self._publish_status()
            except Exception as exc:  # keep dispatching; a bad request must not stop the queue
                import traceback
                traceback.print_exc()
                print(f"haysay jobs: dispatcher error: {exc}")

    def ingest(self, admission: bool = True) -> bool:
        """Move spooled requests into the queue (a refused or invalid one ends `failed`, with why).
        Only the lock holder may call it; the dispatcher does, every poll."""
        found = False
        for path, req, problem in self.spool.pending():
            found = True
            if req is None:
                print(f"haysay jobs: {problem}")
                self.spool.drop(path)
                continue
            try:
                needs = self._check(req, admission)
                self.store.add(req, needs)
            except (InvalidPipeline, AdmissionRefused, ValueError) as exc:
                from .model import Needs
                try:
                    self.store.add(req, Needs(CPU_LANE, 0))
                    self.store.transition(req.job_id, FAILED, f"refused: {exc}")
                except ValueError:
                    pass  # already ingested (a crash between add and drop): the file is a leftover
            self.spool.drop(path)
            self._changed(req.job_id)
        return found

    def _controls(self) -> None:
        for job_id, action, options in self.spool.take_controls():
            try:
                if action == "prune":
                    plan = self.prune(dry_run=bool(options.get("dry_run")), budget=options.get("budget"))
                    self.spool.reply(job_id, {"ok": True, "plan": plan.to_dict()})
                else:
                    (self.cancel if action == "cancel" else self.resume)(job_id)
            except (KeyError, ValueError) as exc:
                if action == "prune":
                    self.spool.reply(job_id, {"ok": False, "error": str(exc)})
                print(f"haysay jobs: {action} {job_id}: {exc}")

    def prune(self, dry_run: bool = False, budget: int | None = None):
        """Prune the artifact store (see storage.Storage.prune) with job starts held back meanwhile,
        so no job begins to rely on an artifact while it is being deleted."""
        from ..storage import Storage

        def running_keys() -> set[str]:
            with self._lock:
                ids = list(self._active)
            return {k for job_id in ids for k in self.store.get(job_id).keys}

        with self._pause:
            return Storage(self.engine.settings, self.engine.store, self.history).prune(
                dry_run=dry_run, budget=budget, running_keys=running_keys)

    def _publish_status(self, force: bool = False) -> None:
        """Readers in other processes cannot open the history while a run holds it: they read this."""
        now = time.time()
        if force or (self._status_dirty and now - self._status_at > 0.5):
            self._status_dirty, self._status_at = False, now
            self.spool.publish_status([j.to_dict() for j in self.store.list(limit=2000)])

    def _enforce_timeouts(self) -> None:
        now = time.time()
        with self._lock:
            for act in self._active.values():
                if act.cancel.is_set():
                    continue
                if act.policy.job_timeout_s and now - act.started > act.policy.job_timeout_s:
                    act.reason, act.end_state = f"job exceeded its timeout of {act.policy.job_timeout_s:g} s", FAILED
                    act.cancel.set()
                    continue
                for nid, t0 in list(act.node_started.items()):
                    limit = act.policy.timeout_for(nid, act.types.get(nid))
                    if limit is not None and now - t0 > limit:
                        act.reason = f"node {nid} ({act.types.get(nid)}) exceeded its timeout of {limit:g} s"
                        act.end_state = FAILED
                        act.cancel.set()
                        break

    def _start_ready(self) -> None:
        if not self._pause.acquire(blocking=False):
            self._status_dirty = self._missed_start = True  # try again on the next poll, after the prune
            return
        try:
            self._missed_start = False
            self._start_lanes()
        finally:
            self._pause.release()

    def _start_lanes(self) -> None:
        with self._lock:
            running = {lane: 0 for lane in self.lanes}
            for act in self._active.values():
                running[self._lane(act.lane)] += 1
        for lane, limit in self.lanes.items():
            if self.merge_lanes and lane != CPU_LANE:
                continue
            free = limit - running[lane]
            if free <= 0 or self._stopping.is_set():
                continue
            for job in self.store.next_queued(None if self.merge_lanes else lane, free):
                self._launch(job)

    def _lane(self, lane: str) -> str:
        return CPU_LANE if self.merge_lanes else lane

    def _launch(self, job: Job) -> None:
        req = job.request
        try:
            doc = parse_pipeline(req.pipeline)
            overrides = [tuple(o) for o in req.overrides]
            p = self.engine.plan(doc, req.inputs, overrides)
            if p.errors:
                raise InvalidPipeline(p.errors)
            keys = self.engine.keys(p)
        except (InvalidPipeline, ValueError) as exc:
            self.store.transition(job.job_id, FAILED, str(exc), expect=QUEUED)
            self._changed(job.job_id)
            return
        run_id = uuid.uuid4().hex
        act = _Active(job.job_id, run_id, job.lane, req.policy, {nid: p.spec(nid).type for nid in p.order()})
        with self._lock:
            try:
                self.store.transition(job.job_id, RUNNING, expect=QUEUED, keys_json=json.dumps(sorted(set(keys.values()))))
            except BadTransition:  # cancelled between the query and now
                return
            self._active[job.job_id] = act
            self.store.add_run(job.job_id, run_id)
            # a resumed job reuses what its earlier attempts finished, even if it was submitted with no cache
            use_cache = req.use_cache or job.attempts > 0
            t = threading.Thread(target=self._run, args=(act, doc, req, overrides, use_cache),
                                 name=f"haysay-job-{job.job_id[:8]}", daemon=True)
            self._threads[job.job_id] = t
            t.start()  # under the lock: stop() joins only threads that started
        self._changed(job.job_id)

    def _run(self, act: _Active, doc: PipelineDoc, req: JobRequest, overrides, use_cache: bool) -> None:
        def on_event(ev: StageEvent) -> None:
            # progress events travel apart from the engine's own; a late one must not restart the clock
            if ev.status == "running" and ev.node not in act.node_finished:
                act.node_started.setdefault(ev.node, time.time())
            elif ev.status in ("done", "failed", "cached", "cancelled", "skipped"):
                act.node_finished.add(ev.node)
                act.node_started.pop(ev.node, None)
            if self.on_stage is not None:
                self.on_stage(act.job_id, ev)

        state, reason, outputs = FAILED, None, None
        try:
            result = self.engine.run(doc, req.inputs, overrides, use_cache=use_cache, on_event=on_event,
                                     run_id=act.run_id, job_id=act.job_id, cancel=act.cancel, retries=req.policy.retries,
                                     output_dir=self.engine.settings.outputs_dir)
            if result.status == "succeeded":
                state = SUCCEEDED
                outputs = {name: result.stages[nid].outputs[port]
                           for name, (nid, port) in self.engine.plan(doc, req.inputs, overrides).outputs.items()}
            elif result.status == "cancelled":
                state, reason = (act.end_state, act.reason) if act.reason else (CANCELLED, "cancelled by user")
                if act.reason:
                    self.history.finish_run(act.run_id, act.end_state, act.reason)
            else:
                reason = result.error or "failed"
                if WORKER_LOST in reason:
                    reason = (f"worker lost: a worker died while running a stage, more often than the cluster "
                              f"retries lost work (allowed-failures); {reason}")
        except InvalidPipeline as exc:
            reason = str(exc)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            self._close_runs_quietly(act.run_id, reason)
        try:
            self.store.transition(act.job_id, state, reason, expect=RUNNING,
                                  **({"outputs_json": json.dumps(outputs)} if outputs is not None else {}))
        except BadTransition:
            pass
        finally:
            with self._lock:
                self._active.pop(act.job_id, None)
                self._threads.pop(act.job_id, None)
        self._changed(act.job_id)

    def _close_runs(self, job: Job, status: str, reason: str) -> None:
        for run_id in job.run_ids:
            rec = self.history.run(run_id)
            if rec is not None and rec.status == "running":
                self.history.finish_run(run_id, status, reason)

    def _close_runs_quietly(self, run_id: str, reason: str) -> None:
        try:
            rec = self.history.run(run_id)
            if rec is not None and rec.status == "running":
                self.history.finish_run(run_id, "failed", reason)
        except Exception:
            pass
