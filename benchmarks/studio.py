"""The studio's responsiveness in a real browser (Debian chromium through playwright), beside the targets.

Rows:
  * studio start -> first page served: `haysay studio --no-browser` started cold until its page answers
    200 (benchmarks/cli.py's measurement), median of --starts.
  * Run click -> first audible stage: examples/hello.json imported into the editor of a fresh
    HAYSAY_HOME, the Run button clicked, until the first play button (a stage's audio ready) appears.
    "cold" is the first run of a studio (job queue and Dask still starting); "warm" re-runs after a
    parameter change, so nothing comes from the cache.
  * canvas drag latency: a 100-node graph on the canvas; one pointer move of a node, from the move
    being sent to the node drawn at its new place (rendered frame), median of --drags. It includes
    playwright's round trip to the browser, so it is an upper bound on what a hand on a mouse sees.

    python benchmarks/studio.py [--starts 3] [--drags 20] [--out benchmarks/results/studio_cpu2.md]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli import ROOT, free_port, haysay_cmd, studio_first_page  # noqa: E402
from procs import stop  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@contextlib.contextmanager
def running_studio(home: Path, *args: str, limit_s: float = 120.0):
    """A studio on 127.0.0.1 with its own HAYSAY_HOME; yields its URL, stops it afterwards."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HAYSAY_STUDIO_", "NICEGUI_", "PYTEST_"))}
    env.update({"HAYSAY_HOME": str(home)})
    env.pop("HAYSAY_SCHEDULER", None)
    proc = subprocess.Popen([*haysay_cmd(), "studio", "--no-browser", "--port", str(port), *args], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + limit_s
        while True:  # bounded by limit_s
            try:
                urllib.request.urlopen(url + "/login", timeout=5).read()
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"haysay studio did not start (exit {proc.poll()})")
                time.sleep(0.1)
        yield url
    finally:
        stop(proc)


@contextlib.contextmanager
def browser_page(width: int = 1600, height: int = 900, timeout_ms: int = 120_000):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(timeout_ms)
            yield page
        finally:
            browser.close()


def import_doc(page, doc: dict, attempts: int = 2) -> None:
    """Load a pipeline through the editor's import dialog; wait until every node is drawn. On a loaded
    machine NiceGUI may reload a page whose websocket lagged, dropping the import: then once more."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(attempts):
        try:
            page.click('[data-testid="import"]')
            page.locator('textarea[data-testid="import-json"]').fill(json.dumps(doc))
            page.click('[data-testid="import-load"]')
            for n in doc["nodes"]:
                page.wait_for_selector(f'[data-node-id="{n["id"]}"]', state="attached", timeout=60_000)
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
            page.reload()
            page.wait_for_selector(".vue-flow")


def renamed(doc: dict, suffix: str) -> dict:
    """`doc` with every node id suffixed: a fresh canvas whose play buttons all belong to the next run."""
    ids = {n["id"] for n in doc["nodes"]}

    def ref(r: str) -> str:
        node, _, port = r.partition(".")
        return f"{node}{suffix}.{port}" if node in ids else r

    out = json.loads(json.dumps(doc))
    for n in out["nodes"]:
        n["id"] += suffix
    out["edges"] = [{"from": ref(e["from"]), "to": ref(e["to"])} for e in out["edges"]]
    out["outputs"] = {k: ref(v) for k, v in out.get("outputs", {}).items()}
    for spec in out.get("inputs", {}).values():
        spec["bind"] = ref(spec["bind"])
    return out


def run_to_first_audio(page, doc: dict) -> float:
    """Seconds from the Run click to the first play button of `doc`'s nodes."""
    import_doc(page, doc)
    mine = ", ".join(f'[data-play^="{n["id"]}."]' for n in doc["nodes"])
    t = time.perf_counter()
    page.click('[data-testid="run"]')
    page.wait_for_selector(mine, state="attached")
    took = time.perf_counter() - t
    page.wait_for_selector('[data-testid="run"]:not([disabled])')
    page.wait_for_function("() => [...document.querySelectorAll('[data-node-id]')]"
                           ".every(n => ['done', 'cached', ''].includes(n.dataset.status))")
    return took


def chain(n: int) -> dict:
    """A tone and n-1 gains, wired in a line, laid out in rows of ten."""
    nodes = [{"id": "tone", "type": "gen.tone", "params": {"duration": 0.5}, "position": {"x": 0, "y": 0}}]
    nodes += [{"id": f"g{i}", "type": "audio.gain", "params": {"gain_db": -0.1},
               "position": {"x": 260 * (i % 10), "y": 170 * (i // 10)}} for i in range(1, n)]
    edges = [{"from": f"{a['id']}.audio", "to": f"{b['id']}.audio"} for a, b in zip(nodes, nodes[1:])]
    return {"format": "haysay.pipeline/1", "name": f"{n} nodes", "nodes": nodes, "edges": edges}


def drag_latencies(page, node_ids: list[str], step_px: float = 30.0) -> list[float]:
    """Seconds from a pointer move to the dragged node drawn moved, per drag."""
    times = []
    for node_id in node_ids:
        sel = f'[data-node-id="{node_id}"]'
        page.locator(sel).scroll_into_view_if_needed()
        box = page.locator(sel).bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + 12  # the title bar: not a port, not a field
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 3, y)  # past vue-flow's drag threshold
        before = page.locator(sel).bounding_box()["x"]
        t = time.perf_counter()
        page.mouse.move(x + 3 + step_px, y)
        page.wait_for_function("([s, x0]) => new Promise(r => requestAnimationFrame(() => "
                               "r(document.querySelector(s).getBoundingClientRect().x > x0 + 5)))",
                               arg=[sel, before], polling="raf")
        times.append(time.perf_counter() - t)
        page.mouse.up()
        page.wait_for_timeout(150)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("--drags", type=int, default=20)
    ap.add_argument("--out", type=Path, help="also write the table (markdown) here")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="haysay-bench-studio-"))
    env = {**os.environ, "HAYSAY_HOME": str(home / "starts")}
    env.pop("HAYSAY_SCHEDULER", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode caches kept, as on a user's machine (see cli.py)
    studio_first_page(env)  # warm-up: writes them
    starts = [studio_first_page(env) for _ in range(args.starts)]
    rows = [("studio start → first page served", [wall for wall, _ in starts], 3.0, "s")]

    hello = json.loads((ROOT / "examples" / "hello.json").read_text())
    with running_studio(home / "editor") as url, browser_page() as page:
        page.goto(url + "/")
        page.wait_for_selector(".vue-flow")
        cold = run_to_first_audio(page, renamed(hello, "_0"))
        warm = []
        for i in range(1, 4):  # new frequencies each time: nothing comes from the cache
            for node, base in zip(hello["nodes"][:2], (230.0, 340.0)):
                node["params"]["frequency"] = base + 10 * i
            warm.append(run_to_first_audio(page, renamed(hello, f"_{i}")))
        rows.append(("Run click → first audible stage, hello.json (cold: first run)", [cold], 5.0, "s"))
        rows.append(("Run click → first audible stage, hello.json (warm)", warm, 2.0, "s"))
        import_doc(page, chain(100))
        ids = [f"g{i}" for i in range(1, 100, max(1, 99 // args.drags))][:args.drags]
        rows.append(("canvas drag latency, 100-node graph", [t * 1000 for t in drag_latencies(page, ids)], 50.0,
                     "ms"))
    shutil.rmtree(home, ignore_errors=True)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [f"{os.cpu_count()} cores, load average {load:.2f} at the end; chromium {CHROMIUM}, 1600×900", "",
             "| measure | median | fastest | n | target | |", "|---|---:|---:|---:|---:|---|"]
    for name, values, target, unit in rows:
        med = statistics.median(values)
        lines.append(f"| {name} | {med:.2f} {unit} | {min(values):.2f} {unit} | {len(values)} | < {target:g} {unit} | "
                     f"{'PASS' if med < target else 'FAIL'} |")
    lines += ["", f"The studio process's own CPU seconds to its first page (what a loaded machine cannot inflate): "
                  f"median {statistics.median(cpu for _, cpu in starts):.2f} s."]
    print("\n".join(lines))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("# Studio responsiveness (CPU)\n\n`python benchmarks/studio.py --out "
                            f"{args.out}`\n\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
