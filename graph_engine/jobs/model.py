"""What a job is: a pipeline run request, its lane, its policy and its durable state.

    queued -> running -> succeeded | failed | cancelled | interrupted
    interrupted | failed | cancelled -> queued      (resume)
    queued | interrupted -> cancelled               (cancel before it runs again)
    queued -> failed                                (refused or invalid when ingested)

Every transition is checked against `TRANSITIONS`, so a job can never, say,
go from `succeeded` back to `running` because two threads disagreed.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, INTERRUPTED = (
    "queued", "running", "succeeded", "failed", "cancelled", "interrupted")
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, INTERRUPTED)
FINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({RUNNING, CANCELLED, FAILED}),
    RUNNING: frozenset({SUCCEEDED, FAILED, CANCELLED, INTERRUPTED}),
    INTERRUPTED: frozenset({QUEUED, CANCELLED}),
    FAILED: frozenset({QUEUED}),
    CANCELLED: frozenset({QUEUED}),
    SUCCEEDED: frozenset(),
}
CPU_LANE, GPU_LANE = "cpu", "gpu"
LANES = (CPU_LANE, GPU_LANE)


class BadTransition(ValueError):
    """A state change the lifecycle does not allow (e.g. resuming a job that succeeded)."""


def check_transition(job_id: str, old: str, new: str) -> None:
    if new not in TRANSITIONS.get(old, frozenset()):
        allowed = ", ".join(sorted(TRANSITIONS.get(old, ()))) or "none: it is final"
        raise BadTransition(f"job {job_id}: cannot go from {old} to {new} (allowed from {old}: {allowed})")


class JobPolicy(BaseModel):
    """How one job runs: timeouts and retries. Deterministic errors (a node raising,
    validation) are not retried unless `retries` says so; tasks on a lost worker are
    rescheduled by Dask up to the runner's `worker_loss_retries`."""

    model_config = ConfigDict(extra="forbid")
    node_timeout_s: float | None = Field(None, gt=0, le=7 * 24 * 3600.0, json_schema_extra={"unit": "s"},
                                         description="Longest any one node may run; the job fails past it")
    node_timeouts: dict[str, float] = Field(default_factory=dict, json_schema_extra={"unit": "s"},
                                            description="Per node id or node type: its own timeout, overriding node_timeout_s")
    job_timeout_s: float | None = Field(None, gt=0, le=30 * 24 * 3600.0, json_schema_extra={"unit": "s"},
                                        description="Longest the whole job may run")
    retries: int = Field(0, ge=0, le=10, description="Re-runs of a node that raised (for flaky nodes; default none)")

    def timeout_for(self, node_id: str, node_type: str | None) -> float | None:
        for name in (node_id, node_type):
            if name and name in self.node_timeouts:
                return float(self.node_timeouts[name])
        return self.node_timeout_s


class JobRequest(BaseModel):
    """What a submitter hands over: everything needed to (re-)run the job later, in JSON."""

    model_config = ConfigDict(extra="forbid")
    job_id: str = Field(default_factory=lambda: uuid.uuid4().hex, pattern=r"^[0-9a-f]{8,64}$")
    pipeline: dict[str, Any] = Field(description="The pipeline document (haysay.pipeline/1)")
    inputs: dict[str, Any] = Field(default_factory=dict)
    overrides: list[tuple[str, str, Any]] = Field(default_factory=list, description="(node, param, value)")
    name: str | None = Field(None, max_length=200, description="A label, e.g. the batch item's stem")
    batch_id: str | None = None
    priority: int = Field(0, ge=-100, le=100, description="Higher runs first within a lane")
    use_cache: bool = True
    policy: JobPolicy = Field(default_factory=JobPolicy)
    submitted_at: float | None = Field(None, description="Unix time the submitter created it")


@dataclass
class Job:
    job_id: str
    name: str | None
    pipeline_name: str | None
    request_json: str
    lane: str
    memory_mb: int
    state: str
    priority: int
    submitted_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    attempts: int
    run_ids_json: str | None
    error: str | None
    batch_id: str | None
    keys_json: str | None
    outputs_json: str | None
    updated_at: datetime | None = None

    @property
    def request(self) -> JobRequest:
        return JobRequest.model_validate_json(self.request_json)

    @property
    def run_ids(self) -> list[str]:
        return json.loads(self.run_ids_json or "[]")

    @property
    def keys(self) -> list[str]:
        """Cache keys of every stage of the job's plan (kept safe from pruning while it runs)."""
        return json.loads(self.keys_json or "[]")

    @property
    def outputs(self) -> dict[str, str]:
        """Output name -> "cache_key/port" once the job succeeded."""
        return json.loads(self.outputs_json or "{}")

    @property
    def final(self) -> bool:
        return self.state in FINAL

    def to_dict(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "name": self.name, "pipeline": self.pipeline_name, "lane": self.lane,
                "memory_mb": self.memory_mb, "state": self.state, "priority": self.priority,
                "submitted_at": _iso(self.submitted_at), "started_at": _iso(self.started_at),
                "ended_at": _iso(self.ended_at), "attempts": self.attempts, "run_ids": self.run_ids,
                "error": self.error, "batch_id": self.batch_id, "outputs": self.outputs}


@dataclass
class JobEvent:
    job_id: str
    at_time: datetime
    old_state: str | None
    new_state: str
    reason: str | None = None


@dataclass
class Needs:
    """What a job's plan asks of the cluster."""

    lane: str
    memory_mb: int
    heaviest: str = ""  # "node (type)" with the largest memory_mb
    gpu_nodes: list[str] = field(default_factory=list)


def _iso(t: datetime | None) -> str | None:
    return t.isoformat(sep=" ", timespec="milliseconds") if t else None
