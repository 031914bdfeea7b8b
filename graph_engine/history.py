"""Run history in one DuckDB file: runs and their stages.

Only the orchestrating process writes it. Connections are short-lived and
retried on a lock conflict, so a CLI run and an open studio can take turns.
A stage that measures something reports {name: number} as `metrics` in its info; the figures are
kept by the stage's cache key (`artifact_metrics`), so the view `stage_metrics` (run_id, node_id,
node_type, name, value, cache_hit) shows them for cache hits too.
Each run records the pid and host of the process that runs it, so a run left
`running` by a killed process can be told from a live one (`interrupt_orphans`).
"""
from __future__ import annotations

import atexit
import json
import math
import os
import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import duckdb

from .liveness import HOST, process_alive

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    pipeline_name VARCHAR,
    pipeline_hash VARCHAR,
    pipeline_json VARCHAR,
    inputs_json VARCHAR,
    overrides_json VARCHAR,
    status VARCHAR,
    started_at TIMESTAMP,
    ended_at TIMESTAMP,
    duration_s DOUBLE,
    error VARCHAR,
    job_id VARCHAR,
    pid INTEGER,
    host VARCHAR
);
CREATE TABLE IF NOT EXISTS stages (
    run_id VARCHAR,
    node_id VARCHAR,
    node_type VARCHAR,
    params_json VARCHAR,
    cache_key VARCHAR,
    cache_hit BOOLEAN,
    worker VARCHAR,
    status VARCHAR,
    started_at TIMESTAMP,
    ended_at TIMESTAMP,
    duration_s DOUBLE,
    error VARCHAR,
    artifact_ref VARCHAR,
    info_json VARCHAR,
    PRIMARY KEY (run_id, node_id)
);
CREATE TABLE IF NOT EXISTS artifact_metrics (
    cache_key VARCHAR,
    name VARCHAR,
    value DOUBLE,
    PRIMARY KEY (cache_key, name)
);
CREATE OR REPLACE VIEW stage_metrics AS
    SELECT s.run_id, s.node_id, s.node_type, m.name, m.value, s.cache_hit
    FROM stages s JOIN artifact_metrics m ON m.cache_key = s.cache_key
    WHERE s.status IN ('done', 'cached');
"""
ADDED = {"runs": [("pid", "INTEGER"), ("host", "VARCHAR")]}  # columns newer than the file: appended
ORPHANED = "interrupted: the process running it ended before the run did (killed or crashed)"


@dataclass
class RunRecord:
    run_id: str
    pipeline_name: str | None
    pipeline_hash: str
    pipeline_json: str
    inputs_json: str | None
    overrides_json: str | None
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    error: str | None
    job_id: str | None
    pid: int | None = None
    host: str | None = None

    @property
    def pipeline(self) -> dict[str, Any]:
        return json.loads(self.pipeline_json)


@dataclass
class StageRecord:
    run_id: str
    node_id: str
    node_type: str
    params_json: str
    cache_key: str
    cache_hit: bool
    worker: str | None
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    error: str | None
    artifact_ref: str | None
    info_json: str | None

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.params_json or "{}")

    @property
    def info(self) -> dict[str, Any]:
        return json.loads(self.info_json or "{}")


def _metric_rows(rows: list[dict[str, Any]]) -> list[tuple[str, str, float]]:
    """(cache_key, name, value) of the finite figures that finished stages report as info `metrics`."""
    out: dict[tuple[str, str], float] = {}  # one figure per key and name: a statement may not repeat a key
    for row in rows:
        if row.get("status") != "done" or not row.get("info_json") or not row.get("cache_key"):
            continue
        try:
            figures = json.loads(row["info_json"]).get("metrics")
        except (ValueError, AttributeError):
            continue
        if not isinstance(figures, dict):
            continue
        for name, value in figures.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                out[(row["cache_key"], str(name))] = float(value)
    return [(key, name, value) for (key, name), value in out.items()]


_OPEN: "weakref.WeakSet[History]" = weakref.WeakSet()


@atexit.register
def _close_kept() -> None:
    for history in list(_OPEN):
        history.close()


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class History:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()  # each thread's held connection: they are not shared across threads
        # The schema is checked in the first visit, not a visit of its own: opening the file costs tens
        # of ms, and a cached CLI run makes only one visit
        self._schema_lock = threading.Lock()
        self._schema_ok = False
        # a connection kept briefly after a visit that expects another soon (a run's start, awaiting its
        # end): a short run then opens the file once, not twice; owned by whoever takes it
        self._idle: duckdb.DuckDBPyConnection | None = None
        self._idle_lock = threading.Lock()
        self._idle_gen = 0
        _OPEN.add(self)

    def _ensure_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create or extend the tables once per History; a file already current is only read (a write
        here would make every close a checkpoint)."""
        with self._schema_lock:
            if self._schema_ok:
                return
            have: dict[str, set[str]] = {}
            for table, column in con.execute("SELECT table_name, column_name FROM information_schema.columns").fetchall():
                have.setdefault(table, set()).add(column)
            if not {"runs", "stages", "artifact_metrics", "stage_metrics"} <= set(have):
                con.execute(SCHEMA)
                have["runs"] = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                                          "WHERE table_name = 'runs'").fetchall()}
            for table, cols in ADDED.items():
                for name, kind in cols:
                    if name not in have.get(table, set()):
                        con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
            self._schema_ok = True

    @contextmanager
    def session(self, keep_s: float = 0.0, close_behind: bool = False) -> Iterator["History"]:
        """Hold one connection across many writes (a run's stages); opening one costs tens of ms.
        `keep_s`: the connection outlives the session by up to that long, for the next visit of this
        process to take (then closed by a timer: the file is never held much longer than before).
        `close_behind`: closed (a checkpoint, ~10 ms) on a thread of its own, so the caller goes on."""
        local = self._local
        if getattr(local, "depth", 0) == 0:
            local.con = self._open()
        local.depth = getattr(local, "depth", 0) + 1
        try:
            yield self
        finally:
            local.depth -= 1
            if local.depth == 0:
                con, local.con = local.con, None
                if keep_s > 0:
                    self._keep(con, keep_s)
                elif close_behind:  # not a daemon: the interpreter waits for it before it exits
                    threading.Thread(target=con.close, name="haysay-history-close").start()
                else:
                    con.close()

    def _keep(self, con: duckdb.DuckDBPyConnection, keep_s: float) -> None:
        with self._idle_lock:
            if self._idle is not None:
                other, self._idle = self._idle, None
                other.close()
            self._idle = con
            self._idle_gen += 1
            timer = threading.Timer(keep_s, self._expire, args=(self._idle_gen,))
        timer.daemon = True
        timer.start()

    def _take_idle(self) -> duckdb.DuckDBPyConnection | None:
        with self._idle_lock:
            con, self._idle = self._idle, None
            self._idle_gen += 1
        return con

    def _expire(self, gen: int) -> None:
        with self._idle_lock:
            if gen != self._idle_gen or self._idle is None:
                return
            con, self._idle = self._idle, None
            con.close()

    def close(self) -> None:
        """Close a connection kept from an earlier visit (done by itself within `keep_s`, and at exit)."""
        con = self._take_idle()
        if con is not None:
            con.close()

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """This thread's session connection, or a short-lived one."""
        held = getattr(self._local, "con", None)
        if held is not None:
            yield held
            return
        con = self._open()
        try:
            yield con
        finally:
            con.close()

    def _open(self, retries: int = 100) -> duckdb.DuckDBPyConnection:
        """Waits (bounded) while another process holds the file."""
        kept = self._take_idle()
        if kept is not None:
            return kept
        for attempt in range(retries):
            try:
                con = duckdb.connect(str(self.path))
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or attempt == retries - 1:
                    raise
                time.sleep(0.05)
                continue
            if not self._schema_ok:
                try:
                    self._ensure_schema(con)
                except BaseException:
                    con.close()
                    raise
            return con
        raise AssertionError("unreachable")

    # -- writes (orchestrator only) ---------------------------------------------------
    def start_run(self, run_id: str, pipeline: dict[str, Any], pipeline_hash: str, inputs: dict | None = None,
                  overrides: list | None = None, job_id: str | None = None) -> None:
        with self.connect() as con:
            con.execute(
                "INSERT INTO runs (run_id, pipeline_name, pipeline_hash, pipeline_json, inputs_json, overrides_json, "
                "status, started_at, job_id, pid, host) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                [run_id, pipeline.get("name"), pipeline_hash, json.dumps(pipeline), json.dumps(inputs or {}, default=str),
                 json.dumps(overrides or [], default=str), _now(), job_id, os.getpid(), HOST])

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> None:
        with self.connect() as con:
            con.execute("UPDATE runs SET status = ?, ended_at = ?, error = ?, "
                        "duration_s = date_diff('microsecond', started_at, ?) / 1e6 WHERE run_id = ?",
                        [status, _now(), error, _now(), run_id])

    def interrupt_orphans(self, reason: str = ORPHANED) -> list[str]:
        """Runs marked `running` whose process is gone from this host become `interrupted`.
        Runs of another host, or of a process still alive, are left as they are. Returns their ids."""
        with self.connect() as con:
            rows = con.execute("SELECT run_id, pid FROM runs WHERE status = 'running' AND host = ?", [HOST]).fetchall()
            gone = [run_id for run_id, pid in rows if process_alive(pid, HOST) is False]
            for run_id in gone:
                con.execute("UPDATE runs SET status = 'interrupted', ended_at = ?, error = ? "
                            "WHERE run_id = ? AND status = 'running'", [_now(), reason, run_id])
        return gone

    def record_stages(self, rows: list[dict[str, Any]]) -> None:
        """Insert or replace stage rows (dicts with StageRecord's fields)."""
        if not rows:
            return
        names = [f.name for f in fields(StageRecord)]
        one = "(" + ", ".join("?" * len(names)) + ")"
        # one multi-row statement: DuckDB's executemany costs milliseconds per row
        figures = _metric_rows(rows)
        values = [row.get(n) for row in rows for n in names]
        insert = f"INTO stages ({', '.join(names)}) VALUES {', '.join([one] * len(rows))}"
        with self.connect() as con:
            try:  # new rows, nearly always: a plain insert costs half an INSERT OR REPLACE
                con.execute("INSERT " + insert, values)
            except duckdb.ConstraintException:  # a stage recorded again (the statement left nothing behind)
                con.execute("INSERT OR REPLACE " + insert, values)
            if figures:
                con.execute("INSERT OR REPLACE INTO artifact_metrics (cache_key, name, value) VALUES "
                            + ", ".join(["(?, ?, ?)"] * len(figures)), [v for f in figures for v in f])

    # -- reads -----------------------------------------------------------------------
    def runs(self, limit: int = 50, status: str | None = None) -> list[RunRecord]:
        sql = "SELECT * FROM runs" + (" WHERE status = ?" if status else "") + " ORDER BY started_at DESC LIMIT ?"
        with self.connect() as con:
            rows = con.execute(sql, ([status] if status else []) + [limit]).fetchall()
        return [RunRecord(*r) for r in rows]

    def run(self, run_id: str) -> RunRecord | None:
        with self.connect() as con:
            row = con.execute("SELECT * FROM runs WHERE run_id = ? OR run_id LIKE ? ORDER BY started_at DESC LIMIT 1",
                              [run_id, run_id + "%"]).fetchone()
        return RunRecord(*row) if row else None

    def stages(self, run_id: str) -> list[StageRecord]:
        with self.connect() as con:
            rows = con.execute("SELECT * FROM stages WHERE run_id = ? ORDER BY started_at NULLS LAST, node_id",
                               [run_id]).fetchall()
        return [StageRecord(*r) for r in rows]

    def metrics(self, run_id: str) -> dict[str, dict[str, float]]:
        """{node_id: {name: value}} of a run's stages that measured something (computed or cached)."""
        with self.connect() as con:
            rows = con.execute("SELECT node_id, name, value FROM stage_metrics WHERE run_id = ? ORDER BY node_id, name",
                               [run_id]).fetchall()
        out: dict[str, dict[str, float]] = {}
        for node_id, name, value in rows:
            out.setdefault(node_id, {})[name] = value
        return out

    def query(self, sql: str, params: list | None = None):
        """Run read-only SQL over the history; returns a pandas DataFrame when pandas is installed."""
        try:
            import pandas  # noqa: F401
        except ImportError:
            pandas = None
        with self.connect() as con:
            rel = con.execute(sql, params or [])
            return rel.df() if pandas is not None else rel.fetchall()
