"""Engine overhead per node, against calling the node functions directly.

A chain of 20 cheap nodes and a 10-branch fan-out, run the default way (a local run's tasks in
this process, no scheduler) and on the embedded Dask cluster (`Engine(inline=False)`): cold (every
stage computed and stored) and fully cached re-runs. CPU ms per node (all threads of this process)
stand beside the wall figures: on a loaded shared machine the wall time also holds waits for a core.
"Cold" runs a graph none of whose stages is stored (new cache keys each repeat); "--no-cache"
recomputes a stored graph, compares each output with the stored artifact and stores it again.
Targets: overhead < 5 ms/node; fully cached re-run of the 20-node graph < 0.3 s.

    python benchmarks/engine.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time


def chain(n: int, salt: int = 0) -> dict:
    """`salt` changes the source's frequency, so every stage gets a new cache key (a really cold run)."""
    nodes = [{"id": "src", "type": "gen.tone", "params": {"duration": 0.05, "frequency": 440.0 + salt}}]
    edges = []
    for i in range(n - 1):
        nodes.append({"id": f"g{i}", "type": "audio.gain", "params": {"gain_db": -0.1}})
        edges.append({"from": ("src" if i == 0 else f"g{i - 1}") + ".audio", "to": f"g{i}.audio"})
    return {"format": "haysay.pipeline/1", "nodes": nodes, "edges": edges, "outputs": {"o": f"g{n - 2}.audio"}}


def fan_out(branches: int, salt: int = 0) -> dict:
    nodes = [{"id": "src", "type": "gen.tone", "params": {"duration": 0.05, "frequency": 440.0 + salt}}]
    edges = []
    for i in range(branches):
        nodes.append({"id": f"b{i}", "type": "audio.gain", "params": {"gain_db": -float(i)}})
        edges.append({"from": "src.audio", "to": f"b{i}.audio"})
    return {"format": "haysay.pipeline/1", "nodes": nodes, "edges": edges}


def direct_seconds(raw: dict, registry) -> float:
    """The same node functions called in topological order, values in memory."""
    from haysay.graph_engine import parse_pipeline, plan
    p = plan(parse_pipeline(raw), registry)
    t = time.perf_counter()
    values = {}
    for nid in p.order():
        ins = {port: values[src][sp] for port, (src, sp) in p.upstream(nid).items()}
        values[nid] = p.spec(nid).call(p.params(nid), **ins)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    os.environ["HAYSAY_HOME"] = tempfile.mkdtemp(prefix="haysay-bench-")
    from haysay.graph_engine import Engine, default_registry, parse_pipeline

    reg = default_registry()
    rows = []
    salt = 0
    for mode, inline in (("in-process", None), ("Dask cluster", False)):
        with Engine(inline=inline) as eng:
            eng.run(parse_pipeline(chain(3)), use_cache=False)  # start the cluster outside the timings
            for name, make in (("chain of 20", lambda s: chain(20, s)), ("fan-out of 10 (+1 source)", lambda s: fan_out(10, s))):
                raw = make(0)
                doc = parse_pipeline(raw)
                n = len(raw["nodes"])
                direct = statistics.median(direct_seconds(raw, reg) for _ in range(args.repeats))
                cold, cpu, forced, forced_cpu, cached = [], [], [], [], []
                for _ in range(args.repeats):
                    salt += 1  # new cache keys: nothing stored yet
                    fresh = parse_pipeline(make(salt))
                    t, c = time.perf_counter(), time.process_time()
                    r = eng.run(fresh)
                    cold.append(time.perf_counter() - t)
                    cpu.append(time.process_time() - c)
                    assert r.ok and len(r.computed) == n
                    t, c = time.perf_counter(), time.process_time()
                    r = eng.run(doc, use_cache=False)  # --no-cache: recomputed, compared, stored again
                    forced.append(time.perf_counter() - t)
                    forced_cpu.append(time.process_time() - c)
                    assert r.ok and len(r.computed) == n
                    t = time.perf_counter()
                    r = eng.run(doc)
                    cached.append(time.perf_counter() - t)
                    assert r.ok and not r.computed
                cold_s, forced_s, cached_s = (statistics.median(x) for x in (cold, forced, cached))
                rows.append((f"{name}, {mode}", n, direct * 1e3, cold_s * 1e3, (cold_s - direct) / n * 1e3,
                             (statistics.median(cpu) - direct) / n * 1e3, (forced_s - direct) / n * 1e3,
                             (statistics.median(forced_cpu) - direct) / n * 1e3, cached_s * 1e3))
    print("\n| graph, how it ran | nodes | direct calls (ms) | engine cold (ms) | overhead / node (ms) "
          "| CPU overhead / node (ms) | --no-cache overhead / node (ms) | its CPU / node (ms) "
          "| fully cached re-run (ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, n, d, c, o, u, fo, fu, k in rows:
        print(f"| {name} | {n} | {d:.1f} | {c:.1f} | {o:.2f} | {u:.2f} | {fo:.2f} | {fu:.2f} | {k:.1f} |")
    default = rows[:2]  # the default way (in-process)
    print(f"\ntargets (default way, cold): overhead < 5 ms/node: {'PASS' if max(r[4] for r in default) < 5 else 'FAIL'}; "
          f"cached 20-node re-run < 300 ms: {'PASS' if default[0][8] < 300 else 'FAIL'}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
