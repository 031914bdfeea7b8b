"""Whether the process behind a temp folder or a run is still alive, never guessed from mtimes.

A writer holds a *lease* on each tmp folder it fills, taken before the folder exists and
given back after the folder has been moved into place (or removed):

- on a local store, an OS lock (flock) on `<folder>.lease`: the kernel drops it the moment
  the writer dies, however it dies, and holds it for as long as the writer lives, however
  long its stage runs;
- on a remote store (no locks there), `<folder>.lease` holds pid, host and a heartbeat that a
  background thread renews every RENEW_S; it is stale once not renewed for STALE_S, or at once
  when its pid is gone on this host.

A sweeper removes a folder only once `abandoned()` hands it the lease of a writer that is gone.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time

try:
    import fcntl
except ImportError:  # no flock (Windows): leases fall back to heartbeats there too
    fcntl = None

HOST = socket.gethostname()
RENEW_S, STALE_S = 60.0, 600.0
SUFFIX = ".lease"


def process_alive(pid: int | None, host: str | None) -> bool | None:
    """True or False for a process of this host; None when that cannot be told (no pid, another host)."""
    if not pid or host != HOST:
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # killed but not yet reaped by its parent: gone all the same
        with open(f"/proc/{int(pid)}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def _body() -> str:
    return json.dumps({"pid": os.getpid(), "host": HOST, "renewed": time.time()})


class Lease:
    """Held by the writer of one tmp folder (see the module docstring); `release()` gives it back."""

    def __init__(self, fs, path: str, local: bool, fd: int | None = None):
        self.fs, self.path, self.local, self._fd = fs, path, local, fd

    @classmethod
    def take(cls, fs, path: str, local: bool) -> "Lease":
        if local and fcntl is not None:
            return cls(fs, path, True, _locked_file(path))
        fs.pipe_file(path, _body().encode())
        lease = cls(fs, path, False)
        _HEARTBEAT.add(lease)
        return lease

    def renew(self) -> None:
        self.fs.pipe_file(self.path, _body().encode())

    def release(self) -> None:
        """Unlink the lease, then let go of the lock (a sweeper never sees a free lease of a live folder)."""
        if self._fd is not None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            os.close(self._fd)
            self._fd = None
        elif not self.local or fcntl is None:
            _HEARTBEAT.discard(self)
            try:
                self.fs.rm(self.path)
            except (FileNotFoundError, OSError):
                pass


def _locked_file(path: str) -> int:
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            continue
        fcntl.flock(fd, fcntl.LOCK_EX)  # only a sweeper's probe can hold it, and only for a moment
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:  # else a sweeper unlinked the file while we waited: lock a fresh one
            os.write(fd, _body().encode())
            return fd
        os.close(fd)


def abandoned(fs, path: str, local: bool, now: float | None = None) -> Lease | None:
    """The lease at `path` when its writer is gone, now held by the caller: remove the folder,
    then `release()` it. None while the writer lives (or when that cannot be told)."""
    if local and fcntl is not None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return Lease(fs, path, True)  # no lease: its writer gave it back, or never took one
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return Lease(fs, path, True, fd)
    try:
        info = json.loads(fs.cat_file(path))
    except FileNotFoundError:
        return Lease(fs, path, False)
    except (ValueError, OSError):
        return None
    alive = process_alive(info.get("pid"), info.get("host"))
    if alive is None:
        alive = (now or time.time()) - float(info.get("renewed") or 0.0) < STALE_S
    return None if alive else Lease(fs, path, False)


class _Heartbeat:
    """One daemon thread renewing every remote lease of this process."""

    def __init__(self):
        self.leases: set[Lease] = set()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def add(self, lease: Lease) -> None:
        with self.lock:
            self.leases.add(lease)
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, name="haysay-lease", daemon=True)
                self.thread.start()

    def discard(self, lease: Lease) -> None:
        with self.lock:
            self.leases.discard(lease)

    def _loop(self) -> None:
        while True:
            time.sleep(RENEW_S)
            with self.lock:
                leases = list(self.leases)
            for lease in leases:
                try:
                    lease.renew()
                except Exception:  # a missed beat is retried on the next; STALE_S allows several
                    pass


_HEARTBEAT = _Heartbeat()
