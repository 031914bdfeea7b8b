"""Running on a cluster of other machines: what every worker must share with the client, checked
before a run, and a watch on stages no worker can take.

Before the first stage of a run on a scheduler the client asks every worker (one `client.run`) for
its facts: host, haysay version, the versions of the node types the run uses, and whether it sees
the artifact store (a probe object the client has just written there). A worker of another
haysay, or with other (or missing) node versions, is left out of the run with a message naming
it; a worker that cannot see the store likewise. With no worker left the run is refused before
anything runs, naming the fix. Stages then go only to the workers that passed.
"""
from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable

NO_WORKER_TIMEOUT_S = 60.0  # HAYSAY_NO_WORKER_TIMEOUT: how long a stage may wait for a worker that can run it


class ClusterError(RuntimeError):
    """The cluster cannot run this pipeline as it stands (the message says what to change)."""


def haysay_version() -> str:
    from importlib import metadata
    try:
        return metadata.version("haysay")
    except metadata.PackageNotFoundError:
        return "unknown"


def node_versions(types: Iterable[str] | None = None) -> dict[str, int]:
    from .contract import default_registry
    reg = default_registry()
    wanted = list(types) if types is not None else [s.type for s in reg]
    return {t: reg[t].version for t in wanted if t in reg}


def worker_facts(probe: str | None, types: list[str], storage_options: dict | None = None,
                 dask_worker=None) -> dict[str, Any]:
    """Run on each worker by `client.run`: what the client compares with its own."""
    facts: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid(), "haysay": haysay_version(),
                             "nodes": node_versions(types)}
    if dask_worker is not None:
        facts["name"] = str(dask_worker.name)
        facts["resources"] = dict(dask_worker.state.total_resources)
    if probe is not None:
        try:
            import fsspec
            fs, path = fsspec.core.url_to_fs(probe, **(storage_options or {}))
            facts["sees_store"] = fs.exists(path)
        except Exception as exc:  # noqa: BLE001 - reported back as the reason the worker is left out
            facts["sees_store"] = False
            facts["store_error"] = f"{type(exc).__name__}: {exc}"
    return facts


@dataclass
class ClusterCheck:
    """Which workers may run the stages, and why the others may not."""

    eligible: list[str]
    hosts: dict[str, str]  # address -> "name on host"
    refused: dict[str, str] = field(default_factory=dict)  # address -> reason
    gpu_workers: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return [f"worker {addr} ({self.hosts.get(addr, '?')}) left out of this run: {why}"
                for addr, why in self.refused.items()]


def check_workers(client, artifacts: str, types: list[str], storage_options: dict | None = None) -> ClusterCheck:
    """Ask every worker for its facts (see the module docstring); raise ClusterError when none may run."""
    from .config import is_remote

    mine_version, mine_nodes = haysay_version(), node_versions(types)
    import fsspec
    fs, base = fsspec.core.url_to_fs(str(artifacts), **(storage_options or {}))
    probe_path = "/".join([base.rstrip("/"), "probe", f"{socket.gethostname()}-{uuid.uuid4().hex[:12]}"])
    remote = is_remote(artifacts)
    probe = f"{str(artifacts).split('://', 1)[0]}://{probe_path}" if remote else os.path.abspath(probe_path)
    try:
        fs.makedirs(probe_path.rsplit("/", 1)[0], exist_ok=True)
        fs.pipe_file(probe_path, b"haysay probe")
        replies = client.run(worker_facts, probe, list(types), storage_options, on_error="return")
    finally:
        try:
            fs.rm(probe_path)
        except (FileNotFoundError, OSError):
            pass
    check = ClusterCheck([], {})
    for addr, facts in replies.items():
        if isinstance(facts, BaseException):
            check.hosts[addr] = "?"
            check.refused[addr] = (f"haysay cannot run there ({type(facts).__name__}: {facts}); "
                                   f"install haysay {mine_version} on it and start it with `haysay worker`")
            continue
        check.hosts[addr] = f"{facts.get('name', addr)} on {facts['host']}"
        why = _mismatch(mine_version, mine_nodes, facts)
        if why is None and not facts.get("sees_store"):
            extra = f" ({facts['store_error']})" if facts.get("store_error") else ""
            why = (f"it cannot see the artifact store {artifacts}{extra}. "
                   + ("Use one store every machine reaches: set HAYSAY_ARTIFACTS to a URL such as "
                      "s3://bucket/haysay (pip install 'haysay[cluster]'), or mount the same folder "
                      "at the same path on every machine" if not is_remote(artifacts) else
                      "Give the worker the same store credentials and endpoint (AWS_* variables, "
                      "HAYSAY_STORAGE_OPTIONS)"))
        if why is not None:
            check.refused[addr] = why
            continue
        check.eligible.append(addr)
        if (facts.get("resources") or {}).get("GPU"):
            check.gpu_workers.append(addr)
    if not replies:
        raise ClusterError("the scheduler has no workers connected; start some with `haysay worker "
                           "<scheduler address>`")
    if not check.eligible:
        raise ClusterError("no worker may run this pipeline: " + "; ".join(check.warnings))
    return check


def _mismatch(version: str, nodes: dict[str, int], facts: dict[str, Any]) -> str | None:
    if facts.get("haysay") != version:
        return (f"it runs haysay {facts.get('haysay')}, this client {version}; install the same haysay "
                f"version on every machine")
    theirs = facts.get("nodes") or {}
    missing = sorted(t for t in nodes if t not in theirs)
    other = sorted(t for t in nodes if t in theirs and theirs[t] != nodes[t])
    if missing:
        return (f"it has no node type {', '.join(missing)} (a plug-in installed only here?); install the same "
                f"plug-ins on every worker")
    if other:
        return "its node versions differ: " + ", ".join(f"{t} v{theirs[t]} there, v{nodes[t]} here" for t in other)
    return None


def stuck_stages(client, keys: list[str]) -> dict[str, str]:
    """{task key: why} for queued tasks the scheduler holds with no worker able to run them."""
    def probe(dask_scheduler, keys=tuple(keys)):
        out = {}
        for k in keys:
            ts = dask_scheduler.tasks.get(k)
            if ts is None or ts.state != "no-worker":
                continue
            need = dict(ts.resource_restrictions or {})
            allowed = sorted(ts.worker_restrictions or ())
            out[k] = {"need": need, "allowed": allowed, "workers": len(dask_scheduler.workers)}
        return out
    found = client.run_on_scheduler(probe)
    reasons = {}
    for k, info in found.items():
        if not info["workers"]:
            reasons[k] = "no worker is connected to the scheduler"
        elif info["need"].get("GPU"):
            reasons[k] = "it needs a GPU worker (resource GPU) and no GPU worker that may run it is connected"
        elif info["allowed"]:
            reasons[k] = f"none of the workers that passed the run's check ({', '.join(info['allowed'])}) is connected"
        else:
            reasons[k] = "no connected worker has the resources it needs"
    return reasons


class NoWorkerWatch:
    """Fails stages that wait for a worker longer than the timeout (HAYSAY_NO_WORKER_TIMEOUT)."""

    def __init__(self, client, timeout_s: float | None = None, every_s: float = 1.0):
        env = os.environ.get("HAYSAY_NO_WORKER_TIMEOUT", "").strip()
        self.client = client
        self.timeout = float(env) if env else (timeout_s if timeout_s is not None else NO_WORKER_TIMEOUT_S)
        self.every = every_s
        self.since: dict[str, float] = {}
        self.last = 0.0

    def expired(self, keys: list[str]) -> dict[str, str]:
        """{key: reason} of tasks stuck longer than the timeout (polled at most every `every_s`)."""
        now = time.monotonic()
        if now - self.last < self.every or not keys:
            return {}
        self.last = now
        try:
            stuck = stuck_stages(self.client, keys)
        except Exception:  # noqa: BLE001 - a scheduler that does not answer is the wait loop's concern
            return {}
        for k in list(self.since):
            if k not in stuck:
                del self.since[k]
        out = {}
        for k, why in stuck.items():
            first = self.since.setdefault(k, now)
            if now - first >= self.timeout:
                out[k] = f"{why} (waited {now - first:.0f}s)"
        return out


HOME_CATEGORIES = ("io",)  # nodes that read or write the client's files: run by the client itself


class RemoteRun:
    """What the engine does differently on a scheduler of other machines (one per run).

    - `check`: the workers' facts (above); stages go only to workers that passed;
    - files come home: a node that reads or writes files (audio.load, audio.save) runs in the client,
      reading the client's file into the shared store (so workers get its content by cache key) or
      writing the stored result to the client's disk; such a node between two cluster stages (a
      save with consumers) stays on the cluster;
    - a stage no worker can take (no GPU worker left, no worker at all) fails after the timeout;
    - a failed stage names the worker that ran it, a stage retried after a lost worker says so.
    """

    def __init__(self, client, check: ClusterCheck):
        self.client, self.check = client, check
        self.watch = NoWorkerWatch(client)
        self.client_name = f"client on {socket.gethostname()}"

    @classmethod
    def start(cls, client, artifacts: str, p, to_run: list[str]) -> "RemoteRun":
        from .config import storage_options
        from .models.remote import models_url, publish_installed
        types = sorted({p.spec(n).type for n in to_run})
        check = check_workers(client, artifacts, types, storage_options(str(artifacts)))
        url = models_url(str(artifacts))
        if url is not None:  # models installed here reach the workers by hash
            publish_installed(url)
        return cls(client, check)

    # -- where stages run ------------------------------------------------------------
    def split_home(self, p, to_run: list[str]) -> tuple[list[str], list[str], list[str]]:
        """(client-side first, cluster, client-side last): readers with nothing to wait for run first,
        writers whose consumers are all client-side last, the rest on the cluster."""
        running = set(to_run)
        home = {n for n in to_run if p.spec(n).category in HOME_CATEGORIES}
        first = [n for n in to_run if n in home and not any(src in running for src, _ in p.upstream(n).values())]
        last: list[str] = []
        for n in reversed(to_run):
            if n in home and n not in first and all(c in last for c in p.graph.successors(n) if c in running):
                last.append(n)
        last.reverse()
        cluster = [n for n in to_run if n not in first and n not in last]
        return first, cluster, last

    def submit_options(self) -> dict[str, Any]:
        if not self.check.refused:  # every worker passed: any of them (and any that joins) may run it
            return {}
        return {"workers": list(self.check.eligible), "allow_other_workers": False}

    def has_gpu(self) -> bool:
        return bool(self.check.gpu_workers)

    # -- following a run -------------------------------------------------------------
    def expired(self, futures: Iterable) -> dict[Any, str]:
        by_key = {f.key: f for f in futures}
        return {by_key[k]: why for k, why in self.watch.expired(list(by_key)).items()}

    def _task_facts(self, keys: list[str]) -> dict[str, dict]:
        def probe(dask_scheduler, keys=tuple(keys)):
            out = {}
            for k in keys:
                ts = dask_scheduler.tasks.get(k)
                if ts is not None:
                    out[k] = {"suspicious": int(getattr(ts, "suspicious", 0) or 0),
                              "erred_on": sorted(getattr(ts, "erred_on", None) or ())}
            return out
        try:
            return self.client.run_on_scheduler(probe)
        except Exception:  # noqa: BLE001 - facts for history only; never fail a run over them
            return {}

    def where(self, future) -> str:
        """' on worker ADDR (NAME on HOST)' for a failed task, or ''."""
        facts = self._task_facts([future.key]).get(future.key) or {}
        workers = facts.get("erred_on") or []
        return "".join(f" on worker {w} ({self.check.hosts.get(w, '?')})" for w in workers[:1])

    def annotate(self, future, outs: list[dict]) -> None:
        """Worker names in each stage's info; the retry after a lost worker, when there was one."""
        facts = self._task_facts([future.key]).get(future.key) or {}
        for out in outs:
            info = out.get("info")
            if not isinstance(info, dict):
                info = out["info"] = {}
            info["worker_host"] = self.check.hosts.get(out.get("worker"), "?")
            if facts.get("suspicious"):
                info["retries"] = facts["suspicious"]
                info["retried"] = (f"its worker was lost {facts['suspicious']} time(s) while running it; "
                                   f"Dask ran it again on {out.get('worker')}")

    def home_name(self) -> str:
        return self.client_name
