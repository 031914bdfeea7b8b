"""How a process that is not the orchestrator hands it work: a spool folder.

DuckDB lets one process write a database file at a time, and the orchestrator
owns the history while it runs jobs. Rather than have `haysay submit` wait for
the file lock (and stall behind a long write), it drops a request file here and
returns the job id at once; the orchestrator ingests the folder every poll.
Requests survive a crash of either side (they are plain files), are written
to a temp name and renamed so a half-written request is never read, and work
even when no orchestrator is running yet: `haysay jobs serve` ingests them at
start. Cancel and resume requests travel the same way, as `control/` files.

    HAYSAY_HOME/jobs/submit/<time>-<job_id>.json   a JobRequest
    HAYSAY_HOME/jobs/control/<job_id>.<action>     cancel | resume | prune (its options as JSON)
    HAYSAY_HOME/jobs/replies/<request id>.json     what the orchestrator answers (a prune report)
    HAYSAY_HOME/jobs/status.json                   the orchestrator's recent jobs, for readers while
                                                   a run holds the history file
    HAYSAY_HOME/jobs/orchestrator.lock             flock held by the one orchestrator
    HAYSAY_HOME/jobs/orchestrator.json             its pid and what its cluster offers

The lock is an OS file lock, so it is released when the holder dies: whoever
gets it next knows every job still marked `running` was interrupted.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from .model import JobRequest

ACTIONS = ("cancel", "resume", "prune")


class OrchestratorBusy(RuntimeError):
    """Another process is already orchestrating this HAYSAY_HOME."""


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class Spool:
    def __init__(self, home: str | os.PathLike):
        self.root = Path(home) / "jobs"
        self.submit_dir = self.root / "submit"
        self.control_dir = self.root / "control"
        self.reply_dir = self.root / "replies"
        self.status_path = self.root / "status.json"
        for d in (self.submit_dir, self.control_dir, self.reply_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.lock_path = self.root / "orchestrator.lock"
        self.info_path = self.root / "orchestrator.json"
        self._lock_fd: int | None = None

    # -- requests ---------------------------------------------------------------------
    def put_request(self, request: JobRequest) -> Path:
        if request.submitted_at is None:
            request = request.model_copy(update={"submitted_at": time.time()})
        path = self.submit_dir / f"{request.submitted_at:017.6f}-{request.job_id}.json"
        _atomic_write(path, request.model_dump_json())
        return path

    def pending(self) -> list[tuple[Path, JobRequest | None, str | None]]:
        """Spooled requests, oldest first: (file, request, None), or (file, None, why it is unreadable)."""
        out = []
        for path in sorted(self.submit_dir.glob("*.json")):
            try:
                out.append((path, JobRequest.model_validate_json(path.read_text(encoding="utf-8")), None))
            except FileNotFoundError:
                continue
            except (ValueError, OSError) as exc:
                out.append((path, None, f"unreadable job request {path.name}: {exc}"))
        return out

    def drop(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def withdraw(self, job_id: str) -> bool:
        """Remove a not-yet-ingested request; True when there was one."""
        found = False
        for path in self.submit_dir.glob(f"*-{job_id}*.json"):
            path.unlink(missing_ok=True)
            found = True
        return found

    # -- control ----------------------------------------------------------------------
    def put_control(self, job_id: str, action: str, options: dict[str, Any] | None = None) -> None:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; one of {ACTIONS}")
        _atomic_write(self.control_dir / f"{job_id}.{action}", json.dumps(options or {}))

    def take_controls(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(job_id, action, options) requests in the order they were made; each is returned once."""
        items = []
        for path in self.control_dir.iterdir():
            job_id, _, action = path.name.rpartition(".")
            if path.name.startswith(".") or action not in ACTIONS:
                continue
            try:
                mtime, text = path.stat().st_mtime, path.read_text(encoding="utf-8")
                path.unlink()
            except FileNotFoundError:
                continue
            try:
                options = json.loads(text) if text.strip().startswith("{") else {}
            except ValueError:
                options = {}
            items.append((mtime, job_id, action, options))
        return [(j, a, o) for _, j, a, o in sorted(items, key=lambda i: i[0])]

    def reply(self, request_id: str, data: dict[str, Any]) -> None:
        _atomic_write(self.reply_dir / f"{request_id}.json", json.dumps(data, default=str))

    def await_reply(self, request_id: str, timeout: float) -> dict[str, Any] | None:
        path = self.reply_dir / f"{request_id}.json"
        deadline = time.time() + timeout
        while time.time() < deadline:
            if path.is_file():
                data = json.loads(path.read_text(encoding="utf-8"))
                path.unlink(missing_ok=True)
                return data
            time.sleep(0.1)
        return None

    # -- the orchestrator's view, for readers ---------------------------------------------
    def publish_status(self, jobs: list[dict[str, Any]]) -> None:
        _atomic_write(self.status_path, json.dumps({"at": time.time(), "jobs": jobs}, default=str))

    def read_status(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.status_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    # -- the one orchestrator -----------------------------------------------------------
    def try_lock(self) -> bool:
        """Take the orchestrator lock without waiting; False when another live process holds it."""
        if self._lock_fd is not None:
            return True
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _flock(fd)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def lock(self, info: dict[str, Any] | None = None) -> None:
        if not self.try_lock():
            holder = self.holder() or {}
            raise OrchestratorBusy(f"another orchestrator (pid {holder.get('pid', '?')}) is running for "
                                   f"{self.root.parent}; submit to it (`haysay submit`) or stop it first")
        self.publish(info or {})

    def publish(self, info: dict[str, Any]) -> None:
        _atomic_write(self.info_path, json.dumps({"pid": os.getpid(), "since": time.time(), **info}))

    def unlock(self) -> None:
        if self._lock_fd is not None:
            self.info_path.unlink(missing_ok=True)
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    @property
    def locked(self) -> bool:
        return self._lock_fd is not None

    def holder(self) -> dict[str, Any] | None:
        """What the live orchestrator published (pid, capacity), or None when none runs."""
        if self._lock_fd is None and self.try_lock():
            self.unlock()
            return None
        try:
            return json.loads(self.info_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}


def _flock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
