"""What the orchestrator needs to know about, and do to, the Dask workers.

Admission control compares a job's declared needs (node specs' `memory_mb`,
`gpu`) with what the workers offer; `NodeModules` makes node types from extra
modules (a user's own nodes, test nodes) exist on every worker, including
workers that a nanny restarts after a crash.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from ..contract import default_registry
from ..graph import Plan
from .model import CPU_LANE, GPU_LANE, Needs

ALLOWED_FAILURES = "distributed.scheduler.allowed-failures"


class AdmissionRefused(ValueError):
    """The job can never run on this cluster (e.g. it needs more memory than any worker has)."""


@dataclass(frozen=True)
class Capacity:
    """The most any one worker offers; 0 MB means no memory limit is set."""

    max_memory_mb: int
    gpu_workers: int
    workers: int

    def to_dict(self) -> dict[str, Any]:
        return {"max_memory_mb": self.max_memory_mb, "gpu_workers": self.gpu_workers, "workers": self.workers}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Capacity":
        return cls(int(d.get("max_memory_mb", 0)), int(d.get("gpu_workers", 0)), int(d.get("workers", 0)))


def capacity_of(client) -> Capacity:
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    limits = [int(w.get("memory_limit") or 0) for w in workers]
    # a worker without a limit (0) may use all the machine has, so it caps nothing
    top = 0 if not limits or 0 in limits else max(limits) // (1024 * 1024)
    gpus = sum(1 for w in workers if (w.get("resources") or {}).get("GPU"))
    return Capacity(top, gpus, len(limits))


def local_capacity(n_workers: int = 1) -> Capacity:
    """What an embedded LocalCluster would offer (Dask's default: the machine's memory split over workers)."""
    from distributed.system import MEMORY_LIMIT
    return Capacity(int(MEMORY_LIMIT // max(1, n_workers) // (1024 * 1024)), 0, n_workers)


def needs_of(p: Plan) -> Needs:
    """The lane (gpu when any node declares gpu=True) and the largest single-node memory need:
    each node runs as its own task, so the biggest one must fit on one worker. The need is the
    one validation planned from the inputs' sizes (a node's `memory=` per sample), else its
    declared `memory_mb`."""
    heaviest, mb, gpu_nodes = "", 0, []
    for nid in p.order():
        spec = p.spec(nid)
        if spec.gpu:
            gpu_nodes.append(nid)
        need = int(math.ceil(p.memory_need_mb(nid)))
        if need > mb:
            heaviest, mb = f"{nid} ({spec.type})", need
    return Needs(GPU_LANE if gpu_nodes else CPU_LANE, mb, heaviest, gpu_nodes)


def admit(needs: Needs, cap: Capacity) -> None:
    """Raise AdmissionRefused when no worker could ever hold the job's heaviest node."""
    if cap.max_memory_mb and needs.memory_mb > cap.max_memory_mb:
        raise AdmissionRefused(
            f"job refused: node {needs.heaviest} needs about {needs.memory_mb:,} MB, but the largest "
            f"worker offers {cap.max_memory_mb} MB (Dask worker memory_limit, {cap.workers} worker(s)); "
            "start workers with more memory or use a lighter model")


class NodeModules(WorkerPlugin):
    """Imports extra node modules on each worker (and each restarted one) so their types resolve."""

    name = "haysay-node-modules"

    def __init__(self, modules: list[str]):
        self.modules = list(modules)

    def setup(self, worker) -> None:
        load_node_modules(self.modules)


def load_node_modules(modules: list[str]) -> None:
    for name in modules:
        import_module(name)
    if modules:
        default_registry(reload=True)  # the registry is built once; rebuild it with the new types


def allowed_failures(client) -> int:
    """How many worker deaths a task survives on this cluster's scheduler before it fails (KilledWorker)."""
    return int(client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures))
