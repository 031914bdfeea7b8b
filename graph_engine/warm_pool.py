"""A per-process cache of loaded models under a memory budget.

Loading a voice model (checkpoint from disk, weights onto a device) often costs
more than running it on a short clip, so each worker process keeps what it
loaded. The pool is bounded: admitting a model that would go over the budget
first evicts the least recently used ones, and the sum of the declared sizes of
resident and loading models never exceeds the budget.

    pool = default_pool()                  # or default_pool("cuda")
    model, warm, seconds = pool.get(("rvc", path, "cpu"), lambda: load(path), size_bytes)

Keys are any hashable naming what was loaded *and how* (file, device, dtype);
size_bytes is the caller's estimate of the memory the loaded object holds
(for a checkpoint, its file size is a fair one).
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable

ENV_BUDGET = "HAYSAY_WARM_POOL_BYTES"
DEFAULT_RAM_FRACTION = 0.25
DEFAULT_VRAM_FRACTION = 0.5
FALLBACK_BUDGET = 2 << 30  # when the machine's memory cannot be read


class ModelTooLarge(MemoryError):
    """The model alone is larger than the pool's whole budget."""

    def __init__(self, key: Hashable, size_bytes: int, budget_bytes: int):
        self.key, self.size_bytes, self.budget_bytes = key, size_bytes, budget_bytes
        super().__init__(
            f"model {key!r} needs {_human(size_bytes)} but the warm pool's budget is only "
            f"{_human(budget_bytes)}; raise {ENV_BUDGET} or use a smaller model")


@dataclass(frozen=True)
class PoolStats:
    hits: int
    misses: int
    evictions: int
    used_bytes: int
    budget_bytes: int
    entries: int
    loading: int


@dataclass
class _Entry:
    value: Any
    size: int
    load_seconds: float


class WarmPool:
    """LRU cache of loaded models bounded by a byte budget; safe to share between threads."""

    def __init__(self, budget_bytes: int, on_evict: Callable[[Hashable, Any], None] | None = None,
                 release: Callable[[], None] | None = None):
        """on_evict(key, model) sees each evicted model; release() runs once the pool has
        dropped its references (e.g. to hand cached GPU memory back to the driver)."""
        if int(budget_bytes) <= 0:
            raise ValueError(f"budget_bytes must be positive, got {budget_bytes}")
        self.budget_bytes = int(budget_bytes)
        self._on_evict = on_evict
        self._release = release
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()  # oldest use first
        self._loading: dict[Hashable, int] = {}  # key -> reserved bytes while its loader runs
        self._cond = threading.Condition()
        self._hits = self._misses = self._evictions = 0

    def get(self, key: Hashable, loader: Callable[[], Any], size_bytes: int) -> tuple[Any, bool, float]:
        """Return (model, warm, load_seconds).

        warm is True when the model was already resident; load_seconds is the
        time its loader took (0.0 on a warm hit). Concurrent calls for one key
        run the loader once; the others wait for it. If the loader raises, the
        reservation is released and the error propagates.
        """
        size = int(size_bytes)
        if size < 0:
            raise ValueError(f"size_bytes must be >= 0, got {size_bytes}")
        if size > self.budget_bytes:
            raise ModelTooLarge(key, size, self.budget_bytes)
        evicted: list[tuple[Hashable, Any]] = []
        with self._cond:
            while True:
                entry = self._entries.get(key)
                if entry is not None:
                    self._entries.move_to_end(key)
                    self._hits += 1
                    return entry.value, True, 0.0
                if key in self._loading:
                    self._cond.wait()
                    continue
                evicted += self._make_room(size)
                if self._committed() + size <= self.budget_bytes:
                    break
                # What is left is reserved by loads in flight: wait for them to land, then evict them.
                self._cond.wait()
            self._loading[key] = size
            self._misses += 1
        self._dispose(evicted)
        start = time.perf_counter()
        try:
            value = loader()
        except BaseException:
            with self._cond:
                del self._loading[key]
                self._cond.notify_all()
            raise
        seconds = time.perf_counter() - start
        with self._cond:
            del self._loading[key]
            self._entries[key] = _Entry(value, size, seconds)
            self._cond.notify_all()
        return value, False, seconds

    def evict(self, key: Hashable) -> bool:
        """Drop one model now; True if it was resident."""
        with self._cond:
            entry = self._entries.pop(key, None)
            if entry is not None:
                self._evictions += 1
                self._cond.notify_all()
        if entry is None:
            return False
        dropped = [(key, entry.value)]
        del entry
        self._dispose(dropped)
        return True

    def clear(self) -> None:
        """Drop every resident model (loads in flight still land)."""
        with self._cond:
            dropped = [(k, e.value) for k, e in self._entries.items()]
            self._evictions += len(dropped)
            self._entries.clear()
            self._cond.notify_all()
        self._dispose(dropped)

    def __contains__(self, key: Hashable) -> bool:
        with self._cond:
            return key in self._entries

    def keys(self) -> list[Hashable]:
        """Resident keys, least recently used first."""
        with self._cond:
            return list(self._entries)

    @property
    def stats(self) -> PoolStats:
        with self._cond:
            return PoolStats(self._hits, self._misses, self._evictions, self._used(), self.budget_bytes,
                             len(self._entries), len(self._loading))

    @property
    def used_bytes(self) -> int:
        with self._cond:
            return self._used()

    def _used(self) -> int:
        return sum(e.size for e in self._entries.values())

    def _committed(self) -> int:
        return self._used() + sum(self._loading.values())

    def _make_room(self, size: int) -> list[tuple[Hashable, Any]]:
        evicted = []
        while self._entries and self._committed() + size > self.budget_bytes:
            old_key, old = self._entries.popitem(last=False)
            self._evictions += 1
            evicted.append((old_key, old.value))
        return evicted

    def _dispose(self, evicted: list[tuple[Hashable, Any]]) -> None:
        # Outside the lock: callbacks may be slow (freeing GPU memory) and must not block other gets.
        # Consumes the list, so that release() runs when nothing here references the models.
        if not evicted:
            return
        if self._on_evict is not None:
            self._notify(evicted)
        evicted.clear()
        if self._release is not None:
            self._release()

    def _notify(self, evicted: list[tuple[Hashable, Any]]) -> None:
        for key, value in evicted:
            self._on_evict(key, value)


_pools: dict[str, WarmPool] = {}
_pools_lock = threading.Lock()


def default_pool(device: str = "cpu") -> WarmPool:
    """The process-wide pool for models placed on `device` ("cpu", "cuda", "cuda:1", ...).

    Budget: $HAYSAY_WARM_POOL_BYTES if set, else a quarter of the machine's RAM
    for cpu, or half of the device's free memory (at first use) for cuda.
    """
    name = _device_name(device)
    with _pools_lock:
        pool = _pools.get(name)
        if pool is None:
            release = _release_cuda_cache if name.startswith("cuda") else None
            pool = _pools[name] = WarmPool(default_budget(name), release=release)
        return pool


def reset_default_pools() -> None:
    """Forget the process-wide pools (tests, or after changing the budget variable)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.clear()


def default_budget(device: str = "cpu") -> int:
    """Bytes a default pool for `device` may hold."""
    env = os.environ.get(ENV_BUDGET, "").strip()
    if env:
        return parse_bytes(env, ENV_BUDGET)
    name = _device_name(device)
    if name.startswith("cuda"):
        try:
            import torch

            free, _total = torch.cuda.mem_get_info(torch.device(name))
            return max(1, int(free * DEFAULT_VRAM_FRACTION))
        except Exception:  # no CUDA here: fall through to RAM, which is where such a model would land
            pass
    try:
        import psutil

        return max(1, int(psutil.virtual_memory().total * DEFAULT_RAM_FRACTION))
    except Exception:
        return FALLBACK_BUDGET


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
          "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}


def parse_bytes(text: str, what: str = "size") -> int:
    """'1500000', '512M', '2 GiB' -> bytes (binary units)."""
    raw = text.strip().lower().replace(" ", "")
    digits = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(digits):]
    try:
        value = float(digits)
    except ValueError:
        value = -1.0
    if unit not in _UNITS or value <= 0:
        raise ValueError(f"{what}: cannot read {text!r} as a positive size (examples: 1073741824, 512M, 2GiB)")
    return int(value * _UNITS[unit])


def _device_name(device: Any) -> str:
    name = str(device).strip().lower() or "cpu"
    return "cuda:0" if name == "cuda" else name


def _release_cuda_cache() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
