"""Faults: kill -9 mid-run and mid-serve, concurrent runs with history reads, fuzzed pipelines,
hostile model files. Prints a markdown table of what went wrong (a benchmark, not a CI gate).

    python benchmarks/faults.py            # 20 run kills, 5 serve kills, 4 concurrent runs, 2,000 fuzzed docs
    python benchmarks/faults.py --quick    # 4 / 2 / 4 / 200, smaller hostile files

Counted per scenario, after the fault and one ordinary run (or serve) to recover:
  lost      a run or job whose output never appears, or differs from a clean run's
  corrupt   history or an artifact that cannot be read, or a cache hit with wrong samples
  crashed   a command that exits with a traceback, or a validator that raises instead of reporting
  hung      a command past its time limit
  stuck     runs or jobs still marked running once nothing runs
  leftover  temp folders (artifacts/tmp, models/.staging) still there after recovery
Hostile files report the peak RSS of `haysay models install` and of the RVC loader on each
(target: under 2x the file size + 500 MB).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter, OrderedDict
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("lost", "corrupt", "crashed", "hung", "stuck", "leftover")
RUN_TIMEOUT = 180
DURATION = 300.0  # seconds of 48 kHz audio per run: long enough that kills land mid-stage

PIPELINE = {"format": "haysay.pipeline/1", "name": "faults",
            "nodes": [{"id": "tone", "type": "gen.tone", "params": {"duration": DURATION, "waveform": "sweep"}},
                      {"id": "gain", "type": "audio.gain", "params": {"gain_db": -3}},
                      {"id": "rs", "type": "audio.resample", "params": {"sample_rate": 44100}},
                      {"id": "fade", "type": "audio.fade", "params": {"fade_in": 0.5}}],
            "edges": [{"from": "tone.audio", "to": "gain.audio"}, {"from": "gain.audio", "to": "rs.audio"},
                      {"from": "rs.audio", "to": "fade.audio"}],
            "inputs": {"seconds": {"bind": "tone.duration", "default": DURATION}},
            "outputs": {"out": "fade.audio"}}


def haysay(home: Path, *args: str, timeout: float = RUN_TIMEOUT, **popen) -> subprocess.CompletedProcess | None:
    """Run the CLI; None when it ran past `timeout` (then it is killed)."""
    try:
        return subprocess.run([sys.executable, "-m", "haysay", *args], capture_output=True, text=True,
                              env={**os.environ, "HAYSAY_HOME": str(home)}, cwd=ROOT, timeout=timeout, **popen)
    except subprocess.TimeoutExpired:
        return None


def spawn(home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "haysay", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "HAYSAY_HOME": str(home)}, cwd=ROOT,
                            start_new_session=True)


def crashed(proc: subprocess.CompletedProcess | None) -> bool:
    return proc is not None and "Traceback" in (proc.stderr or "")


def leftovers(home: Path) -> int:
    found = 0
    for folder in (home / "artifacts" / "tmp", home / "models" / ".staging"):
        if folder.is_dir():
            found += sum(1 for _ in folder.iterdir())
    return found


def history_state(home: Path) -> tuple[bool, int]:
    """(readable, runs still marked running)."""
    proc = haysay(home, "history", "--json", "--limit", "1000", timeout=60)
    if proc is None or proc.returncode != 0:
        return False, 0
    try:
        runs = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return False, 0
    return True, sum(1 for r in runs if r.get("status") == "running")


def same_audio(path: Path, reference: np.ndarray) -> bool:
    try:
        data, _ = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception:
        return False
    return data.shape == reference.shape and np.array_equal(data, reference)


# -- scenarios ---------------------------------------------------------------------------
def kill_runs(work: Path, count: int, rng: random.Random) -> Counter:
    home, pipe = work / "runs-home", work / "pipeline.json"
    pipe.write_text(json.dumps(PIPELINE))
    t0 = time.time()
    ref = haysay(work / "clean-home", "run", str(pipe), "--out", str(work / "ref"), "-q")
    took = time.time() - t0  # kills land between a third of the way in and just before the end
    reference, _ = sf.read(str(work / "ref" / "out.wav"), dtype="float32", always_2d=True)
    assert ref is not None and ref.returncode == 0, ref.stderr if ref else "reference run hung"
    c = Counter()
    for i in range(count):
        seconds = rng.choice([DURATION, DURATION + 1, DURATION + 2])  # kills on cached stages and on fresh ones
        proc = spawn(home, "run", str(pipe), "--out", str(work / f"k{i}"), "-q", "--set", f"tone.duration={seconds}")
        time.sleep(rng.uniform(0.33, 0.95) * took)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        again = haysay(home, "run", str(pipe), "--out", str(work / f"r{i}"), "-q")
        if again is None:
            c["hung"] += 1
        elif again.returncode != 0:
            c["crashed" if crashed(again) else "lost"] += 1
        elif not same_audio(work / f"r{i}" / "out.wav", reference):
            c["corrupt"] += 1
    readable, running = history_state(home)
    c["corrupt"] += 0 if readable else 1
    c["stuck"] += running
    c["leftover"] += leftovers(home)
    return c


def kill_serve(work: Path, count: int, rng: random.Random) -> Counter:
    home, pipe = work / "serve-home", work / "pipeline.json"
    c = Counter()
    for i in range(count):
        jobs = []
        for j in range(3):
            sub = haysay(home, "submit", str(pipe), "--set", f"tone.duration={20 + i * 3 + j}", timeout=60)
            if sub is None or sub.returncode != 0:
                c["crashed" if crashed(sub) else "lost"] += 1
                continue
            jobs.append(sub.stdout.strip().splitlines()[-1])
        serve = spawn(home, "jobs", "serve", "--cpu", "2")
        time.sleep(rng.uniform(3.0, 10.0))
        os.killpg(serve.pid, signal.SIGKILL)
        serve.wait()
        resumed = haysay(home, "jobs", "serve", "--cpu", "2", "--exit-when-idle", timeout=RUN_TIMEOUT * 2)
        if resumed is None:
            c["hung"] += 1
        elif resumed.returncode != 0 and crashed(resumed):
            c["crashed"] += 1
        for job in jobs:
            shown = haysay(home, "jobs", "show", job, "--json", timeout=60)
            try:
                state = json.loads(shown.stdout)["state"] if shown and shown.returncode == 0 else None
            except (json.JSONDecodeError, KeyError, TypeError):
                state = None
            if state is None:
                c["corrupt"] += 1
            elif state == "running":
                c["stuck"] += 1
            elif state != "succeeded":
                c["lost"] += 1
    readable, running = history_state(home)
    c["corrupt"] += 0 if readable else 1
    c["stuck"] += running
    c["leftover"] += leftovers(home)
    return c


def concurrent_runs(work: Path, count: int, rng: random.Random) -> Counter:
    home, pipe = work / "concurrent-home", work / "pipeline.json"
    c = Counter()
    runs = [spawn(home, "run", str(pipe), "--out", str(work / f"c{i}"), "-q", "--set", f"tone.duration={10 + i}")
            for i in range(count)]
    deadline = time.time() + RUN_TIMEOUT
    while any(p.poll() is None for p in runs) and time.time() < deadline:
        read = haysay(home, "history", "--json", timeout=60)
        if read is None:
            c["hung"] += 1
        elif read.returncode != 0:
            c["crashed" if crashed(read) else "corrupt"] += 1
        time.sleep(rng.uniform(0.05, 0.3))
    for i, p in enumerate(runs):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            c["hung"] += 1
            continue
        err = p.stderr.read() if p.stderr else ""
        if p.returncode != 0:
            c["crashed" if "Traceback" in err else "lost"] += 1
        elif not (work / f"c{i}" / "out.wav").is_file():
            c["lost"] += 1
    readable, running = history_state(home)
    c["corrupt"] += 0 if readable else 1
    c["stuck"] += running
    c["leftover"] += leftovers(home)
    return c


def fuzz_pipelines(count: int, rng: random.Random) -> Counter:
    """Mutated documents through parse + validate: every one must come back as errors, never raise."""
    from haysay.graph_engine import PipelineFormatError, default_registry, parse_pipeline, plan

    types = default_registry().types()
    atoms = [None, True, -1, 0, 1e308, -1e308, 2 ** 70, "", "x" * 300, "../../etc/passwd", "/dev/zero", [], {},
             "a.audio", "tone.audio", float("nan")]
    c = Counter()

    def value(depth: int = 0):
        roll = rng.random()
        if roll < 0.1 and depth < 4:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        if roll < 0.2 and depth < 4:
            return {rng.choice(["a", "id", "from", "bind", "x"]): value(depth + 1) for _ in range(rng.randint(0, 3))}
        return rng.choice(atoms)

    def mutate(doc: dict) -> dict:
        doc = json.loads(json.dumps(doc))
        for _ in range(rng.randint(1, 6)):
            try:
                mutate_once(doc)
            except (TypeError, AttributeError, KeyError, IndexError, ValueError):
                pass  # an earlier mutation replaced the part this one edits
        return doc

    def mutate_once(doc: dict) -> None:
        nodes = doc["nodes"]
        op = rng.randrange(9)
        if op == 0 and nodes:
            rng.choice(nodes)["type"] = rng.choice(types)
        elif op == 1 and nodes:
            n = rng.choice(nodes)
            n.setdefault("params", {})[rng.choice(["duration", "gain_db", "path", "sample_rate", "voice",
                                                   "channels", "length", "rate", "x"])] = value()
        elif op == 2:
            ids = [n["id"] for n in nodes] + ["ghost"]
            doc["edges"].append({"from": f"{rng.choice(ids)}.audio", "to": f"{rng.choice(ids)}.{rng.choice(['audio', 'a', 'b', 'text'])}"})
        elif op == 3:
            nodes.append({"id": f"n{rng.randrange(1000)}", "type": rng.choice(types)})
        elif op == 4 and nodes:
            nodes.pop(rng.randrange(len(nodes)))
        elif op == 5:
            doc[rng.choice(["inputs", "outputs", "name", "edges", "nodes", "format"])] = value()
        elif op == 6 and nodes:
            rng.choice(nodes)[rng.choice(["id", "position", "title", "params"])] = value()
        elif op == 7:
            doc["outputs"][f"o{rng.randrange(9)}"] = f"{rng.choice([n['id'] for n in nodes] or ['x'])}.audio"
        else:
            doc["inputs"][f"i{rng.randrange(9)}"] = {"bind": f"{rng.choice([n['id'] for n in nodes] or ['x'])}."
                                                             f"{rng.choice(['duration', 'audio', 'text', 'path'])}",
                                                    "default": value()}

    for _ in range(count):
        doc = mutate(PIPELINE)
        text = json.dumps(doc)
        if rng.random() < 0.1:  # broken text too: cut, nested, long numbers
            text = rng.choice([text[:rng.randrange(len(text))], "[" * 50_000, text.replace("300.0", "9" * 5000)])
        t0 = time.perf_counter()
        try:
            plan(parse_pipeline(text))
        except PipelineFormatError:
            pass
        except Exception as exc:
            c["crashed"] += 1
            print(f"fuzz crash: {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr)
        if time.perf_counter() - t0 > 5:
            c["hung"] += 1
    return c


# -- hostile model files ---------------------------------------------------------------
def _hostile_files(folder: Path, bomb_mb: int) -> dict[str, Path]:
    import pickle

    import torch

    class Storage:
        def __init__(self, key, numel):
            self.key, self.numel = key, numel

    class Tensor:
        def __init__(self, storage, offset, size, stride):
            self.args = (storage, offset, tuple(size), tuple(stride), False, OrderedDict())

        def __reduce_ex__(self, proto):
            return (torch._utils._rebuild_tensor_v2, self.args)

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel) if isinstance(obj, Storage) else None

    def archive(path: Path, obj, records: dict[str, bytes], bomb: int = 0) -> Path:
        buf = io.BytesIO()
        P(buf, protocol=2).dump(obj)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr("archive/data.pkl", buf.getvalue())
            for key, data in records.items():
                zf.writestr(f"archive/data/{key}", data)
            if bomb:
                info = zipfile.ZipInfo("archive/data/0")
                info.compress_type = zipfile.ZIP_DEFLATED
                with zf.open(info, "w", force_zip64=True) as fh:
                    for _ in range(bomb >> 20):
                        fh.write(bytes(1 << 20))
            zf.writestr("archive/version", "3\n")
        return path

    class LegacyP(P):
        def persistent_id(self, obj):
            pid = super().persistent_id(obj)
            return pid + (None,) if pid else None

    def legacy(path: Path, obj, storages: dict[str, bytes]) -> Path:
        import struct
        with open(path, "wb") as fh:
            for head in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True,
                                                          "type_sizes": {"short": 2, "int": 4, "long": 4}}):
                pickle.dump(head, fh, protocol=2)
            LegacyP(fh, protocol=2).dump(obj)
            pickle.dump(list(storages), fh, protocol=2)
            for data in storages.values():
                fh.write(struct.pack("<q", len(data) // 4) + data)
        return path

    config = [1025, 32, 192, 192, 768, 2, 6, 3, 0, "1", [3, 7, 11], [[1, 3, 5]] * 3, [10, 10, 2, 2], 512,
              [16, 16, 4, 4], 109, 256, 40000]

    def rvc(weights) -> dict:
        return {"weight": weights, "config": config, "info": "x", "sr": "40k", "f0": 1, "version": "v2"}

    n = bomb_mb << 18  # float32 elements in `bomb_mb` megabytes
    pad = bytes(4 << 20)  # the crafted files are ~4 MB, like the reported ones
    return {
        "zip bomb record": archive(folder / "bomb.pth", rvc({"emb_g.weight": Tensor(Storage("0", n), 0, [n], [1])}),
                                   {}, bomb=4 * n),
        "storage > record": archive(folder / "storage.pth", rvc({"emb_g.weight": Tensor(Storage("0", 1 << 30), 0, [1 << 30], [1])}),
                                    {"0": pad}),
        "view > storage": archive(folder / "view.pth", rvc({"emb_g.weight": Tensor(Storage("0", 1 << 20), 0, [1 << 15, 1 << 15], [1 << 15, 1])}),
                                  {"0": pad}),
        "legacy storage > file": legacy(folder / "legacy.pth", rvc({"emb_g.weight": Tensor(Storage("0", n), 0, [n], [1])}),
                                        {"0": pad}),
        "overlapping views": archive(folder / "views.pth", rvc({f"w{i}": Tensor(Storage("0", 1 << 20), 0, [1 << 20], [1])
                                                                 for i in range(2000)}), {"0": pad}),
    }




def peak_of(cmd: list[str], home: Path, timeout: float = 300) -> tuple[int | None, int, str]:
    """(peak RSS bytes, exit status, stderr) of one child process, from wait4's rusage."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT,
                                env={**os.environ, "HAYSAY_HOME": str(home)})
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                err.seek(0)
                return usage.ru_maxrss * 1024, proc.returncode, err.read()
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        return None, -9, ""


LOADER = """
import sys
from haysay.nodes.vc.rvc.checkpoint import read_rvc_checkpoint
try:
    read_rvc_checkpoint(sys.argv[1])
    print("loaded", file=sys.stderr)
except ValueError as exc:
    print(exc, file=sys.stderr)
"""


def hostile(work: Path, bomb_mb: int) -> tuple[Counter, list[tuple]]:
    """Each hostile file through `models install` and the RVC loader; peak RSS over the same
    command on a small honest RVC file (what importing torch and haysay costs anyway)."""
    import torch

    folder = work / "hostile"
    folder.mkdir()
    honest = folder / "honest.pth"
    torch.save({"weight": {"emb_g.weight": torch.zeros(1, 256).half()}, "config": [0] * 18, "info": "x",
                "sr": "40k", "f0": 1, "version": "v2"}, honest)
    commands = {"models install": lambda p: [sys.executable, "-m", "haysay", "models", "install", str(p),
                                             "--name", p.stem, "--yes"],
                "RVC loader": lambda p: [sys.executable, "-c", LOADER, str(p)]}
    baseline = {how: peak_of(cmd(honest), work / "hostile-home-honest")[0] or 0 for how, cmd in commands.items()}
    c, rows = Counter(), []
    for label, path in _hostile_files(folder, bomb_mb).items():
        size = path.stat().st_size
        for how, cmd in commands.items():
            home = work / f"hostile-home-{path.stem}"
            peak, code, err = peak_of(cmd(path), home)
            lines = [ln for ln in err.strip().splitlines() if ln.strip()]
            if peak is None:
                c["hung"] += 1
            if "Traceback" in err:
                c["crashed"] += 1
            extra = None if peak is None else peak - baseline[how]
            ok = extra is not None and extra < 2 * size + (500 << 20)
            said = (lines[-1] if lines else f"exit {code}").split(": ", 1)[-1][:90]
            rows.append((label, size, how, "hung" if peak is None else f"{peak / 2**20:.0f} MB",
                         "-" if extra is None else f"{extra / 2**20:+.0f} MB", ok, said))
        c["leftover"] += leftovers(work / f"hostile-home-{path.stem}")
    return c, rows


# -- report ------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller counts (4 run kills, 2 serve kills, 200 fuzzed)")
    ap.add_argument("--run-kills", type=int)
    ap.add_argument("--serve-kills", type=int)
    ap.add_argument("--concurrent", type=int, default=4)
    ap.add_argument("--fuzz", type=int)
    ap.add_argument("--bomb-mb", type=int, help="how far the zip bomb inflates (MB)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--only", action="append", choices=["kill_run", "kill_serve", "concurrent", "fuzz", "hostile"])
    args = ap.parse_args()
    q = args.quick
    counts = {"kill_run": args.run_kills or (4 if q else 20), "kill_serve": args.serve_kills or (2 if q else 5),
              "concurrent": args.concurrent, "fuzz": args.fuzz or (200 if q else 2000)}
    bomb_mb = args.bomb_mb or (1024 if q else 4096)
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="haysay-faults-"))
    (work / "pipeline.json").write_text(json.dumps(PIPELINE))
    wanted = set(args.only or ["kill_run", "kill_serve", "concurrent", "fuzz", "hostile"])
    results: list[tuple[str, Counter, float]] = []
    hostile_rows: list = []
    try:
        for name, label, fn in (
                ("kill_run", f"{counts['kill_run']} x kill -9 of `haysay run`", lambda: kill_runs(work, counts["kill_run"], rng)),
                ("kill_serve", f"{counts['kill_serve']} x kill -9 of `haysay jobs serve` (3 jobs each)",
                 lambda: kill_serve(work, counts["kill_serve"], rng)),
                ("concurrent", f"{counts['concurrent']} concurrent runs + history reads",
                 lambda: concurrent_runs(work, counts["concurrent"], rng)),
                ("fuzz", f"{counts['fuzz']} fuzzed pipelines (validate)", lambda: fuzz_pipelines(counts["fuzz"], rng)),
                ("hostile", "hostile model files", None)):
            if name not in wanted:
                continue
            t0 = time.time()
            if name == "hostile":
                found, hostile_rows = hostile(work, bomb_mb)
            else:
                found = fn()
            results.append((label, found, time.time() - t0))
            print(f"done: {label} in {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| scenario | " + " | ".join(COLUMNS) + " | seconds |")
    print("|---|" + "---:|" * (len(COLUMNS) + 1))
    for label, found, secs in results:
        print(f"| {label} | " + " | ".join(str(found.get(k, 0)) for k in COLUMNS) + f" | {secs:.0f} |")
    if hostile_rows:
        print()
        print("| hostile file | size | command | peak RSS | over an honest file | under 2x size + 500 MB | outcome |")
        print("|---|---:|---|---:|---:|---|---|")
        for label, size, how, peak, extra, ok, said in hostile_rows:
            print(f"| {label} | {size / 2**20:.1f} MB | {how} | {peak} | {extra} | {'yes' if ok else 'NO'} | "
                  f"{said.replace('|', '/')} |")
    print(f"\nmax RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
