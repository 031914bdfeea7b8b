"""Wall time of the everyday commands, each in a cold process, beside the targets.

Each command runs `--repeats` times as a fresh `haysay` process (the console script when it is on
PATH, else `python -m haysay`) against one scratch HAYSAY_HOME; the table shows the median and the
fastest. "cached run" re-runs examples/hello.json after one run filled the cache. "studio first
page" is the time from starting `haysay studio --no-browser` to the first 200 answer of its page.
The bare interpreter start (`python -c pass`) is shown for reference: no command can beat it.
CPU seconds (user + system of the command's process) are shown beside the wall time: on a shared,
loaded machine they are what the command costs, while the wall time also holds the waits for a core.

    python benchmarks/cli.py [--repeats 5] [--studio-repeats 3]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procs import stop  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def haysay_cmd() -> list[str]:
    exe = shutil.which("haysay")
    return [exe] if exe else [sys.executable, "-m", "haysay"]


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `cmd`."""
    cpu, t = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=300)
    took, cpu = time.perf_counter() - t, _children_cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return took, cpu


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def studio_first_page(env: dict, limit_s: float = 120.0) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the studio process) from its start to its page's first answer."""
    import psutil
    port = free_port()
    t = time.perf_counter()
    proc = subprocess.Popen([*haysay_cmd(), "studio", "--no-browser", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - t < limit_s:  # bounded: a studio that never answers fails the row
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                    if resp.status == 200:
                        took = time.perf_counter() - t
                        cpu = psutil.Process(proc.pid).cpu_times()
                        return took, cpu.user + cpu.system
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if proc.poll() is not None:
                raise SystemExit(f"haysay studio exited with {proc.returncode} before answering")
            time.sleep(0.02)
        raise SystemExit(f"haysay studio did not answer within {limit_s:.0f} s")
    finally:
        stop(proc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--studio-repeats", type=int, default=3, help="0 leaves the studio row out")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="haysay-bench-cli-"))
    out = home / "out"
    env = {**os.environ, "HAYSAY_HOME": str(home)}
    env.pop("HAYSAY_SCHEDULER", None)
    # as on a user's machine, Python keeps its bytecode caches (this VM's shells set PYTHONDONTWRITEBYTECODE,
    # which recompiles haysay's sources in every process: ~0.2 s each); the warm-up runs below write them
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    hay = haysay_cmd()
    timed([*hay, "run", "examples/hello.json", "--out", str(out), "-q"], env)  # fills the cache and the history
    if args.studio_repeats:
        studio_first_page(env)  # the studio's own modules' bytecode

    rows: list[tuple[str, list[tuple[float, float]], float | None]] = [
        ("python -c pass (interpreter start)", [timed([sys.executable, "-c", "pass"], env) for _ in range(args.repeats)],
         None)]
    commands = [("haysay --help", ["--help"], 0.5), ("haysay nodes", ["nodes"], 0.5),
                ("haysay validate examples/hello.json", ["validate", "examples/hello.json"], 0.5),
                ("haysay schema", ["schema"], 0.5), ("haysay history", ["history"], 0.5),
                ("haysay run examples/hello.json (fully cached)", ["run", "examples/hello.json", "--out", str(out), "-q"],
                 1.0)]
    for name, argv, target in commands:
        rows.append((name, [timed([*hay, *argv], env) for _ in range(args.repeats)], target))
    if args.studio_repeats:
        rows.append(("haysay studio: first page", [studio_first_page(env) for _ in range(args.studio_repeats)], 3.0))
    shutil.rmtree(home, ignore_errors=True)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{os.cpu_count()} cores, load average {load:.2f} at the end; median of {args.repeats} cold processes "
          f"({args.studio_repeats} for the studio)\n")
    print("| command | wall median (s) | wall fastest (s) | CPU median (s) | target, wall (s) | |")
    print("|---|---:|---:|---:|---:|---|")
    for name, times, target in rows:
        walls, cpus = [w for w, _ in times], [c for _, c in times]
        med = statistics.median(walls)
        verdict = "" if target is None else ("PASS" if med < target else "FAIL")
        print(f"| {name} | {med:.2f} | {min(walls):.2f} | {statistics.median(cpus):.2f} | "
              f"{'' if target is None else f'< {target:g}'} | {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
