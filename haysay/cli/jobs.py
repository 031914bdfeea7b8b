"""`haysay submit | jobs | batch | storage`: queued runs, batches and the storage lifecycle.

`submit` never touches the history: it validates, checks admission, and drops
a request in the spool (see graph_engine/jobs/spool.py) for `haysay jobs serve`.
Readers use the history when no orchestrator holds it, else the orchestrator's
published status.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import uuid
from pathlib import Path

from . import EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_USAGE
from .pipeline import _load, _print_errors


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("submit", help="queue a pipeline run as a job; prints its id at once")
    _run_args(p)
    p.add_argument("--name", help="a label for the job")
    p.add_argument("--priority", type=int, default=0, help="higher starts first within its lane (-100..100)")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("jobs", help="list, show, cancel, resume jobs; `jobs serve` runs the orchestrator")
    p.set_defaults(func=cmd_list, state=None, limit=30, json=False)
    jsub = p.add_subparsers(dest="jobs_command", metavar="ACTION")
    q = jsub.add_parser("list", help="recent jobs")
    q.add_argument("--state", help="only jobs in this state")
    q.add_argument("--limit", type=int, default=30)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_list)
    q = jsub.add_parser("show", help="one job: state, times, runs, error, state log")
    q.add_argument("job_id")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_show)
    for action, text in (("cancel", "cancel a queued or running job"),
                         ("resume", "re-run an interrupted, failed or cancelled job, reusing cached stages")):
        q = jsub.add_parser(action, help=text)
        q.add_argument("job_id")
        q.set_defaults(func=cmd_control, action=action)
    q = jsub.add_parser("serve", help="run the orchestrator in the foreground (Ctrl-C stops it)")
    q.add_argument("--cpu", type=int, default=2, help="CPU-lane jobs running at once")
    q.add_argument("--gpu", type=int, default=1, help="GPU-lane jobs running at once")
    q.add_argument("--workers", type=int, default=1, help="Dask workers of the embedded cluster")
    q.add_argument("--processes", action="store_true", help="workers as processes (default: threads)")
    q.add_argument("--scheduler", help="use this Dask scheduler instead of an embedded cluster")
    q.add_argument("--worker-loss-retries", type=int, default=3,
                   help="times a task is rescheduled after its worker died (Dask allowed-failures)")
    q.add_argument("--import", dest="modules", action="append", default=[], metavar="MODULE",
                   help="import a module of extra node types (repeatable)")
    q.add_argument("--exit-when-idle", action="store_true", help="stop once nothing is queued or running")
    q.add_argument("--no-auto-resume", dest="auto_resume", action="store_false", default=None,
                   help="leave interrupted jobs for `haysay jobs resume` (default: queue them again at start; "
                        "HAYSAY_JOBS_AUTO_RESUME=0 does the same)")
    q.set_defaults(func=cmd_serve)

    p = sub.add_parser("batch", help="one job per input file, CSV row or text line; writes <stem>__<output>.wav")
    _run_args(p)
    p.add_argument("--inputs", required=True, help="a folder, a .csv (columns = input names) or a text file of lines")
    p.add_argument("--input-name", help="the pipeline input each file or line feeds (default: its only input)")
    p.add_argument("--out", "-o", required=True, help="folder for the outputs")
    p.add_argument("--format", choices=["wav", "flac", "ogg"], default="wav")
    p.add_argument("--quiet", "-q", action="store_true", help="no per-job lines")
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("storage", help="sizes of artifacts, models and history; prune, pin, unpin")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_storage)
    ssub = p.add_subparsers(dest="storage_command", metavar="ACTION")
    q = ssub.add_parser("prune", help="delete unreferenced and expired artifacts, oldest first, until under budget")
    q.add_argument("--dry-run", action="store_true", help="only list what would go")
    q.add_argument("--budget", help="size to get under, e.g. 20G (default: HAYSAY_STORAGE_BUDGET / storage.json)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_prune)
    for action in ("pin", "unpin"):
        q = ssub.add_parser(action, help=f"{action} a run (all its artifacts) or one artifact by cache key")
        q.add_argument("target", metavar="RUN_ID|KEY")
        q.set_defaults(func=cmd_pin, action=action)


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("pipeline", help="pipeline JSON file")
    p.add_argument("--input", "-i", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--set", "-s", action="append", default=[], metavar="NODE.PARAM=VALUE")
    p.add_argument("--no-cache", action="store_true", help="recompute every stage")
    p.add_argument("--node-timeout", type=float, metavar="SECONDS", help="longest any one node may run")
    p.add_argument("--timeout", action="append", default=[], metavar="NODE=SECONDS",
                   help="timeout for one node id or node type (repeatable)")
    p.add_argument("--retries", type=int, default=0, help="re-runs of a node that raised (default 0)")


def _settings():
    from haysay.graph_engine import Settings
    return Settings.from_env()


def _spool():
    from haysay.graph_engine.jobs import Spool
    return Spool(_settings().home)


def _policy(args):
    from haysay.graph_engine.jobs import JobPolicy
    timeouts = {}
    for item in args.timeout:
        name, _, secs = item.partition("=")
        try:
            timeouts[name] = float(secs)
        except ValueError:
            raise ValueError(f"--timeout must be NODE=SECONDS, got {item!r}") from None
    return JobPolicy(node_timeout_s=args.node_timeout, node_timeouts=timeouts, retries=args.retries)


def _capacity(spool):
    """What the live orchestrator's workers offer, else what an embedded cluster here would."""
    import os
    from haysay.graph_engine.jobs.workers import Capacity, local_capacity
    holder = spool.holder()
    if holder and holder.get("capacity"):
        return Capacity.from_dict(holder["capacity"])
    return None if os.environ.get("HAYSAY_SCHEDULER") else local_capacity()


def _prepare(args, doc, inputs, overrides):
    """Validate and admit one job's request; returns (request, None) or (None, exit code)."""
    from haysay.graph_engine import default_registry, plan
    from haysay.graph_engine.jobs import AdmissionRefused, JobRequest
    from haysay.graph_engine.jobs.workers import admit, needs_of
    p = plan(doc, default_registry(), inputs, overrides)
    if p.errors:
        _print_errors(p.errors)
        return None, EXIT_INVALID
    cap = _capacity(_spool())
    try:
        if cap is not None:
            admit(needs_of(p), cap)
        req = JobRequest(pipeline=doc.to_dict(), inputs=inputs, overrides=overrides, use_cache=not args.no_cache,
                         policy=_policy(args), name=getattr(args, "name", None),
                         priority=getattr(args, "priority", 0), submitted_at=time.time())
    except (AdmissionRefused, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None, EXIT_INVALID
    return req, None


def cmd_submit(args) -> int:
    loaded = _load(args)
    if isinstance(loaded, int):
        return loaded
    req, code = _prepare(args, *loaded)
    if req is None:
        return code
    spool = _spool()
    spool.put_request(req)
    print(req.job_id)
    if spool.holder() is None:
        print("note: no orchestrator is running; `haysay jobs serve` will start it", file=sys.stderr)
    return EXIT_OK


def _jobs_view(limit: int = 2000) -> list[dict]:
    """Jobs as dicts, newest first: from the live orchestrator's status, else from the history."""
    spool = _spool()
    pending = [dict(job_id=r.job_id, name=r.name, pipeline=r.pipeline.get("name"), lane="?", state="queued",
                    submitted_at=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.submitted_at or 0)),
                    error="(spooled; not yet taken by an orchestrator)", run_ids=[], attempts=0, outputs={})
               for _, r, _ in spool.pending() if r is not None]
    if spool.holder() is not None:
        status = spool.read_status() or {"jobs": []}
        return pending[::-1] + status["jobs"][:limit]
    from haysay.graph_engine import History
    from haysay.graph_engine.jobs import JobStore
    return pending[::-1] + [j.to_dict() for j in JobStore(History(_settings().history_path)).list(limit=limit)]


def _find(job_id: str) -> dict | None:
    matches = [j for j in _jobs_view() if j["job_id"] == job_id or j["job_id"].startswith(job_id)]
    return matches[0] if len(matches) == 1 or (matches and matches[0]["job_id"] == job_id) else None


def cmd_list(args) -> int:
    jobs = [j for j in _jobs_view() if not args.state or j["state"] == args.state][:args.limit]
    if args.json:
        print(json.dumps(jobs, indent=2, default=str))
        return EXIT_OK
    print(f"{'job':<14} {'state':<12} {'lane':<4} {'name':<20} {'submitted':<19}  error")
    for j in jobs:
        label = j.get("name") or j.get("pipeline") or "-"
        print(f"{j['job_id'][:12]:<14} {j['state']:<12} {j['lane']:<4} {label[:20]:<20} "
              f"{str(j.get('submitted_at') or '')[:19]:<19}  {(j.get('error') or '')[:60]}")
    return EXIT_OK


def cmd_show(args) -> int:
    job = _find(args.job_id)
    if job is None:
        print(f"no job {args.job_id!r} (see `haysay jobs`)", file=sys.stderr)
        return EXIT_USAGE
    events = []
    if _spool().holder() is None and "spooled" not in (job.get("error") or ""):
        from haysay.graph_engine import History
        from haysay.graph_engine.jobs import JobStore
        events = [(str(e.at_time)[:23], e.old_state or "-", e.new_state, e.reason or "")
                  for e in JobStore(History(_settings().history_path)).events(job["job_id"])]
    if args.json:
        print(json.dumps({**job, "events": events}, indent=2, default=str))
        return EXIT_OK
    for k in ("job_id", "name", "pipeline", "state", "lane", "memory_mb", "priority", "submitted_at", "started_at",
              "ended_at", "attempts", "run_ids", "error", "outputs"):
        if job.get(k) not in (None, [], {}):
            print(f"{k + ':':<14}{job[k]}")
    for at, old, new, why in events:
        print(f"  {at}  {old:>11} -> {new:<11} {why}")
    return EXIT_OK


def cmd_control(args) -> int:
    """With an orchestrator live, hand it the request; otherwise act on the queue directly."""
    from haysay.graph_engine.jobs import JobRunner, UnknownJob
    spool = _spool()
    if spool.holder() is not None:
        job = _find(args.job_id)
        if job is None:
            print(f"no job {args.job_id!r}", file=sys.stderr)
            return EXIT_USAGE
        spool.put_control(job["job_id"], args.action)
        print(f"{args.action} requested for {job['job_id']}")
        return EXIT_OK
    runner = JobRunner()
    if not runner.spool.try_lock():
        print("error: an orchestrator started meanwhile; try again", file=sys.stderr)
        return EXIT_FAILED
    try:
        runner.recover()
        runner.ingest(admission=False)
        job = (runner.cancel if args.action == "cancel" else lambda j: runner.resume(j, check=False))(args.job_id)
        print(f"{job.job_id}: {job.state}")
        return EXIT_OK
    except (UnknownJob, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        runner.spool.unlock()


def cmd_serve(args) -> int:
    from haysay.graph_engine import Engine, Settings
    from haysay.graph_engine.jobs import JobRunner, OrchestratorBusy

    def show(job) -> None:
        extra = f"  {job.error}" if job.error else ""
        print(f"{time.strftime('%H:%M:%S')} job {job.job_id} {job.state} lane={job.lane} "
              f"{job.name or job.pipeline_name or '-'}{extra}", flush=True)

    engine = Engine(Settings.from_env(scheduler=args.scheduler), processes=args.processes, n_workers=args.workers)
    runner = JobRunner(engine, lanes={"cpu": args.cpu, "gpu": args.gpu}, node_modules=args.modules,
                       worker_loss_retries=args.worker_loss_retries, on_change=show, auto_resume=args.auto_resume)
    try:
        runner.start()
    except OrchestratorBusy as exc:
        engine.close()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"orchestrating {engine.settings.home} (pid {__import__('os').getpid()}); lanes {runner.lanes}; "
          f"recovered {len(runner.recovered)} interrupted job(s); resumed {len(runner.resumed)}; "
          f"{len(runner.settled)} had finished (outcome from history)", flush=True)
    try:
        runner.serve(stop, exit_when_idle=args.exit_when_idle)
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()
        engine.close()
    return EXIT_OK


def cmd_batch(args) -> int:
    from haysay.graph_engine.jobs.batch import BatchError, batch_items, run_batch
    loaded = _load(args)
    if isinstance(loaded, int):
        return loaded
    doc, inputs, overrides = loaded
    try:
        items = batch_items(doc, args.inputs, args.input_name)
        policy = _policy(args)
    except (BatchError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for item in items:  # catch a bad row before anything is queued
        item.inputs.update({k: v for k, v in inputs.items() if k not in item.inputs})
        req, code = _prepare(args, doc, item.inputs, overrides)
        if req is None:
            print(f"  in {item.source}", file=sys.stderr)
            return code
    tty = sys.stderr.isatty()
    t0 = time.time()

    def update(results, changed) -> None:
        done = sum(r.state in ("succeeded", "failed", "cancelled", "interrupted") for r in results)
        if changed is not None and not args.quiet:
            extra = f"  {changed.error}" if changed.error else "".join(f"  {p}" for p in changed.outputs)
            print(("\r\033[K" if tty else "") + f"  {changed.item.stem:<24} {changed.state:<10}{extra}", file=sys.stderr)
        bar = "#" * int(30 * done / max(1, len(results)))
        line = f"[{bar:<30}] {done}/{len(results)} finished, {time.time() - t0:6.1f}s"
        print(("\r\033[K" + line) if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)

    results = run_batch(doc, items, args.out, args.format, overrides, on_update=update,
                        use_cache=not args.no_cache, policy=policy)
    if tty:
        print(file=sys.stderr)
    print(f"{'input':<24} {'state':<10} {'seconds':>8}  outputs / error")
    for r in results:
        what = r.error or ", ".join(p.name for p in r.outputs)
        print(f"{r.item.stem[:24]:<24} {r.state:<10} {(r.seconds or 0):8.2f}  {what}")
    ok = sum(r.state == "succeeded" for r in results)
    print(f"{ok}/{len(results)} succeeded in {time.time() - t0:.1f}s; outputs in {args.out}")
    return EXIT_OK if ok == len(results) else EXIT_FAILED


def cmd_storage(args) -> int:
    from haysay.graph_engine.storage import Storage, human
    try:
        u = Storage().usage()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(u, indent=2))
        return EXIT_OK
    a = u["artifacts"]
    budget = human(u["budget_bytes"]) if u["budget_bytes"] is not None else "none"
    print(f"artifacts  {human(a['bytes']):>11}  ({a['count']} stage outputs; budget {budget}; keep last "
          f"{u['keep_runs']} runs / {u['keep_days']} days)")
    for label, n in a["by_age"].items():
        print(f"  {label:<22} {human(n):>11}")
    for name, n in list(a["by_pipeline"].items())[:15]:
        print(f"  pipeline {name[:13]:<13} {human(n):>11}")
    for label, key in (("tmp leftovers", "tmp_bytes"), ("models", "models_bytes"), ("history", "history_bytes")):
        print(f"{label:<10} {human(u[key]):>12}")
    return EXIT_OK


def cmd_prune(args) -> int:
    from haysay.graph_engine.storage import Storage, human, parse_size
    try:
        budget = parse_size(args.budget, "--budget")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    spool = _spool()
    if spool.holder() is not None:  # the orchestrator knows its running jobs and holds starts back meanwhile
        rid = uuid.uuid4().hex
        spool.put_control(rid, "prune", {"dry_run": args.dry_run, "budget": budget})
        reply = spool.await_reply(rid, timeout=300)
        if reply is None or not reply.get("ok"):
            print(f"error: the orchestrator did not prune: {(reply or {}).get('error', 'no answer in 300 s')}", file=sys.stderr)
            return EXIT_FAILED
        plan = reply["plan"]
    else:
        if not spool.try_lock():
            print("error: an orchestrator started meanwhile; try again", file=sys.stderr)
            return EXIT_FAILED
        try:
            plan = Storage().prune(dry_run=args.dry_run, budget=budget).to_dict()
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        finally:
            spool.unlock()
    if args.json:
        print(json.dumps(plan, indent=2))
        return EXIT_OK
    verb = "would delete" if args.dry_run else "deleted"
    freed = sum(d["bytes"] for d in plan["delete"])
    print(f"{verb} {len(plan['delete'])} artifact(s), {human(freed)}; "
          f"{human(plan['total_bytes'])} -> {human(plan['after_bytes'])}"
          + (f" (budget {human(plan['budget_bytes'])})" if plan["budget_bytes"] is not None else ""))
    for d in plan["delete"]:
        print(f"  - {d['key'][:16]}  {human(d['bytes']):>10}  {d['reason']}")
    reasons: dict[str, int] = {}
    for why in plan["kept"].values():
        reasons[why] = reasons.get(why, 0) + 1
    for why, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print(f"  kept {n:>4}: {why}")
    if plan["budget_bytes"] is not None and plan["after_bytes"] > plan["budget_bytes"]:
        print(f"still over budget by {human(plan['after_bytes'] - plan['budget_bytes'])}: the rest is kept for the reasons above")
    return EXIT_OK


def cmd_pin(args) -> int:
    from haysay.graph_engine.storage import Storage
    try:
        st = Storage()
        kind, ident = st.pin(args.target) if args.action == "pin" else st.unpin(args.target)
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.action}ned {'run' if kind == 'runs' else 'artifact'} {ident}")
    return EXIT_OK
