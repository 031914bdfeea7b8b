"""Queue benchmark: job throughput with 1 and 2 Dask workers, and how long a short CPU job waits
to start while the GPU lane is saturated (lanes vs one merged FIFO).

    python benchmarks/job_queue.py [--jobs 200]

Prints a table; timings depend on the machine (run it alone).
"""
from __future__ import annotations

import os
import sys

# run as a script, this file's folder leads sys.path and this module would shadow the stdlib `queue`
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field  # noqa: E402

from haysay.graph_engine import Engine, Settings, default_registry, parse_pipeline
from haysay.graph_engine.contract import AUDIO, node
from haysay.graph_engine.jobs import JobRunner
from haysay.graph_engine.values import Audio


class HoldParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(2.0, ge=0, le=600, json_schema_extra={"unit": "s"}, description="How long it holds the GPU")
    tag: int = Field(0, ge=0, description="Makes jobs distinct")


@node("bench.gpu_hold", outputs={"audio": AUDIO}, params=HoldParams, category="source", gpu=True)
def gpu_hold(params):
    """A stand-in for a long GPU stage."""
    time.sleep(params.seconds)
    return Audio(np.zeros((1, 160), np.float32), 8000)


def tone(freq: float):
    return parse_pipeline({"format": "haysay.pipeline/1", "name": "bench-tone",
                           "nodes": [{"id": "t", "type": "gen.tone",
                                      "params": {"frequency": freq, "duration": 0.05, "sample_rate": 8000}}],
                           "outputs": {"audio": "t.audio"}})


def gpu_job(tag: int, seconds: float):
    return parse_pipeline({"format": "haysay.pipeline/1", "name": "bench-gpu",
                           "nodes": [{"id": "g", "type": "bench.gpu_hold", "params": {"seconds": seconds, "tag": tag}}],
                           "outputs": {"audio": "g.audio"}})


def fresh_home() -> Settings:
    home = tempfile.mkdtemp(prefix="haysay-bench-")
    os.environ["HAYSAY_HOME"] = home
    return Settings.from_env(home)


def throughput(n_jobs: int, workers: int) -> tuple[float, float]:
    engine = Engine(fresh_home(), n_workers=workers, threads_per_worker=2)
    with JobRunner(engine, lanes={"cpu": 2 * workers}) as runner:
        t0 = time.perf_counter()
        ids = [runner.submit(tone(100.0 + i)) for i in range(n_jobs)]
        t_sub = time.perf_counter() - t0
        for job_id in ids:
            assert runner.wait(job_id, 600).state == "succeeded"
        total = time.perf_counter() - t0
    engine.close()
    return n_jobs / total, t_sub / n_jobs * 1000


def start_latency(merge: bool, gpu_jobs: int = 3, hold: float = 2.0) -> float:
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=1, processes=False, threads_per_worker=4, resources={"GPU": 1},
                           dashboard_address=None)
    client = Client(cluster)
    engine = Engine(fresh_home())
    engine.attach(client)
    with JobRunner(engine, lanes={"cpu": 1, "gpu": 1}, merge_lanes=merge) as runner:
        gpus = [runner.submit(gpu_job(i, hold)) for i in range(gpu_jobs)]
        runner.wait(gpus[0], 60, states=("running",))
        cpu = runner.wait(runner.submit(tone(999.0)), 120)
        latency = (cpu.started_at - cpu.submitted_at).total_seconds()
        for g in gpus:
            runner.cancel(g)
    engine.close()
    client.close()
    cluster.close()
    return latency


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=200)
    args = ap.parse_args()
    default_registry(reload=True)
    rows = []
    for workers in (1, 2):
        rate, submit_ms = throughput(args.jobs, workers)
        rows.append((f"{args.jobs} tone jobs, {workers} worker(s)", f"{rate:.1f} jobs/s", f"submit {submit_ms:.1f} ms/job"))
    for merge in (False, True):
        lat = start_latency(merge)
        rows.append((f"CPU job submit->start, GPU lane busy ({'one FIFO' if merge else 'lanes'})", f"{lat:.2f} s", "3 GPU jobs x 2 s ahead"))
    print(f"\n{'case':<58} {'result':>12}  note")
    for case, result, note in rows:
        print(f"{case:<58} {result:>12}  {note}")


if __name__ == "__main__":
    main()
