"""Cluster benchmark: throughput of N small jobs on 1 vs 2 `haysay worker` processes, and the per-run
overhead of an object store (a moto S3 server process on loopback) against a local folder.

    python benchmarks/cluster.py [--jobs 100] [--clients 4]

Each job is tone -> gain -> resample (distinct frequencies, so nothing is cached); `--clients` runs
go at once from client threads. The overhead rows time one small run at a time (computed, then
fully cached), the same pipeline on each store. Timings depend on the machine (run it alone); the
workers share this machine's cores, so 2 workers gain only where cores are free.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from haysay.graph_engine import Engine, Settings, parse_pipeline


def job(freq: float, seconds: float = 0.5):
    return parse_pipeline({
        "format": "haysay.pipeline/1", "name": "bench",
        "nodes": [{"id": "tone", "type": "gen.tone", "params": {"frequency": freq, "duration": seconds,
                                                                "sample_rate": 16000}},
                  {"id": "gain", "type": "audio.gain", "params": {"gain_db": -6.0}},
                  {"id": "rs", "type": "audio.resample", "params": {"sample_rate": 8000}}],
        "edges": [{"from": "tone.audio", "to": "gain.audio"}, {"from": "gain.audio", "to": "rs.audio"}],
        "outputs": {"out": "rs.audio"}})


class Processes:
    def __init__(self, tmp: Path, env: dict):
        self.tmp, self.env, self.procs = tmp, env, []
        sched = tmp / "scheduler.json"
        self.procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                                            "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
                                            str(sched)], env=env, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        while not (sched.exists() and sched.stat().st_size):
            time.sleep(0.1)
        self.address = json.loads(sched.read_text())["address"]

    def workers(self, n: int) -> None:
        for _ in range(n):
            name = f"w{len(self.procs)}"  # names must be unique on a scheduler
            home = self.tmp / name
            home.mkdir()
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "haysay", "worker", self.address, "--name", name, "--nthreads", "2",
                 "--host", "127.0.0.1"], env={**self.env, "HAYSAY_HOME": str(home)}, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))

    def close(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


def throughput(address: str, artifacts: str, n_jobs: int, clients: int, offset: float) -> float:
    eng = Engine(Settings.from_env(artifacts=artifacts), scheduler=address)
    try:
        eng.run(job(100.0 + offset))  # connect, check the workers, warm imports: not timed
        t0 = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(lambda i: eng.run(job(200.0 + offset + i)), range(n_jobs)))
        elapsed = time.perf_counter() - t0
        bad = [r.error for r in results if not r.ok]
        if bad:
            raise SystemExit(f"{len(bad)} job(s) failed: {bad[0]}")
        return n_jobs / elapsed
    finally:
        eng.close()


def per_run(address: str, artifacts: str, runs: int, offset: float) -> tuple[float, float]:
    """(median seconds of a computed run, of a fully cached run)."""
    eng = Engine(Settings.from_env(artifacts=artifacts), scheduler=address)
    try:
        eng.run(job(50.0 + offset))
        computed, cached = [], []
        for i in range(runs):
            doc = job(5000.0 + offset + i)
            t0 = time.perf_counter()
            assert eng.run(doc).ok
            computed.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            r = eng.run(doc)
            assert r.ok and not r.computed
            cached.append(time.perf_counter() - t0)
        return statistics.median(computed), statistics.median(cached)
    finally:
        eng.close()


def wait_workers(address: str, n: int) -> None:
    from distributed import Client
    with Client(address, timeout="30s") as c:
        c.wait_for_workers(n, timeout=120)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=100)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--runs", type=int, default=10, help="runs timed for the per-run overhead")
    args = ap.parse_args()

    import socket
    with socket.socket() as sock:  # a free port for the S3 server, its own process (not this one's GIL)
        sock.bind(("127.0.0.1", 0))
        host, port = sock.getsockname()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    s3env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "bench",
             "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    os.environ.update(s3env)
    import boto3
    boto3.client("s3").create_bucket(Bucket="haysay-bench")

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["HAYSAY_HOME"] = str(tmp / "client")
        env = {**os.environ}
        stores = {"local folder": str(tmp / "artifacts"), "S3 (moto, loopback)": "s3://haysay-bench/art"}
        procs = Processes(tmp, env)
        try:
            procs.workers(1)
            wait_workers(procs.address, 1)
            for j, (label, url) in enumerate(stores.items()):
                computed, cached = per_run(procs.address, url, args.runs, offset=j * 0.25)
                rows.append((f"one run, {label}: computed / cached", f"{computed * 1000:.0f} / {cached * 1000:.0f} ms"))
            for n in (1, 2):
                if n == 2:
                    procs.workers(1)
                    wait_workers(procs.address, 2)
                for j, (label, url) in enumerate(stores.items()):
                    rate = throughput(procs.address, url, args.jobs, args.clients, offset=n * 0.5 + j * 0.125)
                    rows.append((f"{args.jobs} jobs, {n} worker(s), {label}", f"{rate:.1f} jobs/s"))
        finally:
            procs.close()
            server.kill()
            server.wait()
    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  result")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
