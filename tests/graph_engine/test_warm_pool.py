"""WarmPool: LRU eviction under a byte budget, thread safety, default budget."""
from __future__ import annotations

import threading
import time

import pytest

from haysay.graph_engine import warm_pool
from haysay.graph_engine.warm_pool import ModelTooLarge, WarmPool, default_pool, parse_bytes


class Loader:
    """Returns a fixed value, counting its calls."""

    def __init__(self, value, delay=0.0):
        self.value, self.delay, self.calls = value, delay, 0

    def __call__(self):
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        return self.value


def test_hit_is_warm_and_miss_reports_load_time():
    pool = WarmPool(100)
    slow = Loader("model-a", delay=0.05)
    value, warm, seconds = pool.get("a", slow, 10)
    assert (value, warm) == ("model-a", False)
    assert seconds >= 0.05
    value, warm, seconds = pool.get("a", slow, 10)
    assert (value, warm, seconds) == ("model-a", True, 0.0)
    assert slow.calls == 1
    s = pool.stats
    assert (s.hits, s.misses, s.evictions, s.used_bytes, s.entries) == (1, 1, 0, 10, 1)


def test_lru_order_decides_eviction():
    evicted, releases = [], []
    pool = WarmPool(100, on_evict=lambda k, v: evicted.append(k), release=lambda: releases.append(len(evicted)))
    for key in "abc":
        pool.get(key, Loader(key), 30)
    pool.get("a", Loader("a"), 30)  # a becomes most recent; b is now the oldest
    pool.get("d", Loader("d"), 30)  # 120 > 100: one eviction needed
    assert evicted == ["b"]
    assert pool.keys() == ["c", "a", "d"]
    pool.get("e", Loader("e"), 50)  # needs 50 free: evicts c then a
    assert evicted == ["b", "c", "a"]
    assert pool.keys() == ["d", "e"]
    assert pool.stats.evictions == 3
    assert pool.stats.used_bytes == 80
    assert releases == [1, 3]  # once per get that evicted, after its callbacks


def test_budget_never_exceeded_across_many_loads():
    pool = WarmPool(1000)
    seen = []

    def loader_for(key):
        def load():
            seen.append(pool.stats.used_bytes + sum(pool._loading.values()))
            return key
        return load

    sizes = [300, 450, 120, 999, 1, 700, 250, 250, 250, 500, 1000, 10]
    for i, size in enumerate(sizes):
        pool.get(i, loader_for(i), size)
        assert pool.stats.used_bytes <= 1000
    assert max(seen) <= 1000
    assert pool.stats.misses == len(sizes)
    assert len(sizes) - 1 in pool  # the latest is always resident


def test_too_large_model_fails_clearly_and_keeps_pool():
    pool = WarmPool(1 << 20)
    pool.get("small", Loader("s"), 1000)
    loader = Loader("huge")
    with pytest.raises(ModelTooLarge) as info:
        pool.get("huge", loader, 3 << 20)
    message = str(info.value)
    assert "huge" in message and "3.0 MiB" in message and "1.0 MiB" in message
    assert "HAYSAY_WARM_POOL_BYTES" in message
    assert loader.calls == 0
    assert "small" in pool


def test_concurrent_get_loads_once():
    pool = WarmPool(100)
    loader = Loader(object(), delay=0.2)
    results = []
    start = threading.Barrier(8)

    def worker():
        start.wait()
        results.append(pool.get("shared", loader, 40))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert loader.calls == 1
    assert len(results) == 8
    assert len({id(r[0]) for r in results}) == 1
    assert sum(1 for r in results if not r[1]) == 1  # exactly one cold load
    assert pool.stats.misses == 1 and pool.stats.hits == 7


def test_concurrent_distinct_loads_respect_budget():
    pool = WarmPool(100)
    peak = []
    lock = threading.Lock()

    def make(key):
        def load():
            with lock:
                peak.append(pool.stats.used_bytes + sum(pool._loading.values()))
            time.sleep(0.02)
            return key
        return load

    threads = [threading.Thread(target=pool.get, args=(k, make(k), 45)) for k in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert pool.stats.misses == 10
    assert max(peak) <= 100
    assert pool.stats.used_bytes <= 100


def test_failed_loader_releases_reservation_and_can_retry():
    pool = WarmPool(100)

    def broken():
        raise OSError("checkpoint truncated")

    with pytest.raises(OSError, match="truncated"):
        pool.get("m", broken, 90)
    assert pool.stats.used_bytes == 0 and pool.stats.loading == 0
    value, warm, _ = pool.get("m", Loader("ok"), 90)
    assert (value, warm) == ("ok", False)


def test_parse_bytes_and_env_budget(monkeypatch):
    assert parse_bytes("512M") == 512 << 20
    assert parse_bytes("2 GiB") == 2 << 30
    assert parse_bytes("1500") == 1500
    with pytest.raises(ValueError, match="HAYSAY_WARM_POOL_BYTES"):
        parse_bytes("lots", "HAYSAY_WARM_POOL_BYTES")
    monkeypatch.setenv("HAYSAY_WARM_POOL_BYTES", "64M")
    warm_pool.reset_default_pools()
    try:
        pool = default_pool()
        assert pool.budget_bytes == 64 << 20
        assert default_pool("cpu") is pool
    finally:
        warm_pool.reset_default_pools()


def test_default_budget_is_fraction_of_ram(monkeypatch):
    psutil = pytest.importorskip("psutil")
    monkeypatch.delenv("HAYSAY_WARM_POOL_BYTES", raising=False)
    total = psutil.virtual_memory().total
    assert warm_pool.default_budget("cpu") == int(total * warm_pool.DEFAULT_RAM_FRACTION)


def test_cuda_pool_budget_and_eviction_frees_device_memory(monkeypatch):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device here")
    monkeypatch.delenv("HAYSAY_WARM_POOL_BYTES", raising=False)
    warm_pool.reset_default_pools()
    try:
        free, _ = torch.cuda.mem_get_info()
        pool = default_pool("cuda")
        assert default_pool("cuda:0") is pool and default_pool("cpu") is not pool
        assert abs(pool.budget_bytes - free * warm_pool.DEFAULT_VRAM_FRACTION) < 0.05 * free
        size = 256 << 20
        before = torch.cuda.memory_allocated()
        weights, warm, _ = pool.get("w", lambda: torch.empty(size // 4, dtype=torch.float32, device="cuda"), size)
        assert not warm and torch.cuda.memory_allocated() - before >= size
        del weights
        assert pool.evict("w")
        assert torch.cuda.memory_allocated() - before < size  # the pool held the only reference
        assert torch.cuda.memory_reserved() < size + before  # and handed the cached block back
    finally:
        warm_pool.reset_default_pools()
