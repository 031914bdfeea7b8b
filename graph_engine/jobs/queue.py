"""The durable job queue: a `jobs` table (and a `job_events` log) in the history's DuckDB file.

Only the orchestrating process writes these tables (see `spool.py` for how
other processes hand requests over); any process may read them. Every state
change goes through `transition()`, which checks the lifecycle and logs it.
"""
from __future__ import annotations

import json
import threading
from dataclasses import fields
from datetime import datetime, timezone
from typing import Any

from ..history import History
from .model import (FINAL, QUEUED, RUNNING, BadTransition, Job, JobEvent, JobRequest, Needs,
                    check_transition)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id VARCHAR PRIMARY KEY,
    name VARCHAR,
    pipeline_name VARCHAR,
    request_json VARCHAR,
    lane VARCHAR,
    memory_mb INTEGER,
    state VARCHAR,
    priority INTEGER,
    submitted_at TIMESTAMP,
    started_at TIMESTAMP,
    ended_at TIMESTAMP,
    attempts INTEGER,
    run_ids_json VARCHAR,
    error VARCHAR,
    batch_id VARCHAR,
    keys_json VARCHAR,
    outputs_json VARCHAR,
    updated_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS job_events (
    job_id VARCHAR,
    at_time TIMESTAMP,
    old_state VARCHAR,
    new_state VARCHAR,
    reason VARCHAR
);
"""
COLUMNS = [f.name for f in fields(Job)]
SETTABLE = {"run_ids_json", "keys_json", "outputs_json", "error", "attempts", "lane", "memory_mb"}


class UnknownJob(KeyError):
    def __str__(self) -> str:
        return f"no job {self.args[0]!r}"


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def from_unix(t: float | None) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc).replace(tzinfo=None) if t else now()


class JobStore:
    """Jobs and their state log, next to runs and stages in one DuckDB file."""

    def __init__(self, history: History):
        self.history = history
        self._lock = threading.RLock()  # transitions read-check-write; threads of one process take turns
        with history.connect() as con:
            con.execute(SCHEMA)

    # -- writes (orchestrator only) ---------------------------------------------------
    def add(self, request: JobRequest, needs: Needs, state: str = QUEUED, error: str | None = None) -> Job:
        t = from_unix(request.submitted_at)
        row = {"job_id": request.job_id, "name": request.name, "pipeline_name": request.pipeline.get("name"),
               "request_json": request.model_dump_json(), "lane": needs.lane, "memory_mb": needs.memory_mb,
               "state": state, "priority": request.priority, "submitted_at": t, "attempts": 0,
               "run_ids_json": "[]", "error": error, "batch_id": request.batch_id, "updated_at": t,
               "ended_at": t if state in FINAL else None}
        with self._lock, self.history.connect() as con:
            if con.execute("SELECT 1 FROM jobs WHERE job_id = ?", [request.job_id]).fetchone():
                raise ValueError(f"job {request.job_id} already exists")
            con.execute(f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
            con.execute("INSERT INTO job_events VALUES (?, ?, NULL, ?, ?)", [request.job_id, t, state, error])
        return self.get(request.job_id)

    def transition(self, job_id: str, new: str, reason: str | None = None, expect: str | None = None,
                   **values: Any) -> Job:
        """Move a job to `new` (checked against the lifecycle), stamping times and logging the change.
        `expect` makes it conditional: BadTransition unless the job is in that state now."""
        bad = set(values) - SETTABLE
        if bad:
            raise ValueError(f"cannot set {sorted(bad)} in a transition")
        with self._lock, self.history.connect() as con:
            row = con.execute("SELECT state FROM jobs WHERE job_id = ?", [job_id]).fetchone()
            if row is None:
                raise UnknownJob(job_id)
            old = row[0]
            if expect is not None and old != expect:
                raise BadTransition(f"job {job_id} is {old}, not {expect}")
            check_transition(job_id, old, new)
            t = now()
            sets = {"state": new, "updated_at": t, **values}
            if new == RUNNING:
                sets.update(started_at=t, ended_at=None)
            elif new == QUEUED:
                sets.update(ended_at=None)
            else:
                sets["ended_at"] = t
            if new in (RUNNING, QUEUED) and "error" not in values:
                sets["error"] = None
            elif reason is not None and "error" not in values and new != "succeeded":
                sets["error"] = reason
            con.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in sets)} WHERE job_id = ?",
                        [*sets.values(), job_id])
            con.execute("INSERT INTO job_events VALUES (?, ?, ?, ?, ?)", [job_id, t, old, new, reason])
        return self.get(job_id)

    def update(self, job_id: str, **values: Any) -> None:
        """Set bookkeeping fields (run ids, plan keys, outputs) without a state change."""
        bad = set(values) - SETTABLE
        if bad:
            raise ValueError(f"cannot set {sorted(bad)}")
        if not values:
            return
        with self._lock, self.history.connect() as con:
            con.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in values)}, updated_at = ? WHERE job_id = ?",
                        [*values.values(), now(), job_id])

    def add_run(self, job_id: str, run_id: str) -> None:
        job = self.get(job_id)
        self.update(job_id, run_ids_json=json.dumps(job.run_ids + [run_id]), attempts=job.attempts + 1)

    # -- reads -----------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        """One job by id or unique id prefix."""
        with self.history.connect() as con:
            rows = con.execute(f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE job_id = ? OR job_id LIKE ? LIMIT 3",
                               [job_id, job_id + "%"]).fetchall()
        exact = [r for r in rows if r[0] == job_id]
        if exact:
            return Job(*exact[0])
        if len(rows) == 1 and len(job_id) >= 4:
            return Job(*rows[0])
        if len(rows) > 1:
            raise UnknownJob(f"{job_id} (ambiguous prefix)")
        raise UnknownJob(job_id)

    def list(self, state: str | None = None, limit: int = 100, batch_id: str | None = None,
             lane: str | None = None) -> list[Job]:
        where, args = [], []
        for col, val in (("state", state), ("batch_id", batch_id), ("lane", lane)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        sql = (f"SELECT {', '.join(COLUMNS)} FROM jobs" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY submitted_at DESC, job_id LIMIT ?")
        with self.history.connect() as con:
            return [Job(*r) for r in con.execute(sql, args + [limit]).fetchall()]

    def next_queued(self, lane: str | None, limit: int) -> list[Job]:
        """The lane's (or, with None, every lane's) queued jobs in the order they should start:
        priority, then first come."""
        where, args = ("state = ?", [QUEUED]) if lane is None else ("state = ? AND lane = ?", [QUEUED, lane])
        with self.history.connect() as con:
            rows = con.execute(f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE {where} "
                               "ORDER BY priority DESC, submitted_at, job_id LIMIT ?", args + [limit]).fetchall()
        return [Job(*r) for r in rows]

    def events(self, job_id: str) -> list[JobEvent]:
        with self.history.connect() as con:
            rows = con.execute("SELECT * FROM job_events WHERE job_id = ? ORDER BY at_time, rowid", [job_id]).fetchall()
        return [JobEvent(*r) for r in rows]

    def counts(self, batch_id: str | None = None) -> dict[str, int]:
        sql = "SELECT state, count(*) FROM jobs" + (" WHERE batch_id = ?" if batch_id else "") + " GROUP BY state"
        with self.history.connect() as con:
            return dict(con.execute(sql, [batch_id] if batch_id else []).fetchall())
