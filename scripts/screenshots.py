"""The README's studio screenshots at 1600×900 (chromium through playwright), into docs/screenshots/:

  editor.png   examples/hello.json after a run, a stage selected
  compare.png  the Compare tab: two stages of that run, A against B
  models.png   the Models page's Browse tab over a Hay Say-format character_models.json

    python scripts/screenshots.py [--out docs/screenshots]

A scratch HAYSAY_HOME is used and removed; the catalogue's entries are made up for the picture
(its URLs point nowhere, nothing is downloaded).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("studio_bench", ROOT / "benchmarks" / "studio.py")
_bench = importlib.util.module_from_spec(_spec)  # by path: a plain `import studio` would find the package
_spec.loader.exec_module(_bench)
browser_page, import_doc, running_studio = _bench.browser_page, _bench.import_doc, _bench.running_studio

MiB = 1 << 20
DEMO_CATALOGUE = [  # Hay Say's architectures/rvc/character_models.json shape
    {"Model Name": name, "License": licence, "Originally Acquired From": "https://example.invalid/" + name,
     "Files": [{"URL": f"https://example.invalid/{name}.pth", "Download With": "REQUESTS", "Download As": f"{name}.pth",
                "Size (bytes)": size}]}
    for name, licence, size in (("Alto", "CC-BY-4.0", 55 * MiB), ("Baritone", "CC-BY-NC-4.0", 57 * MiB),
                                ("Cello Voice", "UNSPECIFIED", 54 * MiB), ("Dawn Chorus", "CC0-1.0", 110 * MiB),
                                ("Evening Reader", "CC-BY-4.0", 56 * MiB), ("Folk Tenor", "UNSPECIFIED", 53 * MiB))]
DEMO_NATIVE = {"architecture": "sovits", "models": [
    {"name": "Choir Soprano", "version": "4.1", "license": "CC-BY-4.0", "creator": "Choir Lab", "language": "en",
     "files": [{"url": "https://example.invalid/soprano/G_800.pth", "size": 180 * MiB}]},
    {"name": "Narrator (de)", "version": "4.0", "license": "CC-BY-SA-4.0", "creator": "Leselampe", "language": "de",
     "files": [{"url": "https://example.invalid/narrator/G_1200.pth", "size": 175 * MiB}]}]}


def editor_and_compare(page, url: str, out: Path) -> None:
    page.goto(url + "/")
    page.wait_for_selector(".vue-flow")
    import_doc(page, json.loads((ROOT / "examples" / "hello.json").read_text()))
    page.click('[data-testid="run"]')
    page.wait_for_selector('[data-testid="run-status"]:has-text("succeeded")')
    page.click('[data-node-id="resample"] .hs-head')
    page.wait_for_selector('[data-node-id="resample"].hs-selected')
    page.wait_for_timeout(800)
    page.screenshot(path=str(out / "editor.png"))
    page.click('[data-testid="compare-a-resample"]')
    page.click('[data-node-id="quiet"] .hs-head')
    page.wait_for_selector('[data-node-id="quiet"].hs-selected')
    page.click('[data-testid="compare-b-quiet"]')
    page.click('[data-testid="tab-compare"]')
    page.wait_for_selector('[data-testid="compare-player-B"]')
    page.wait_for_timeout(2000)  # the spectrograms draw
    page.screenshot(path=str(out / "compare.png"))


def models(page, url: str, out: Path) -> None:
    page.goto(url + "/models")
    page.click('[data-testid="tab-browse"]')
    page.wait_for_selector('[data-testid="browse"] tbody tr:has-text("Narrator (de)")')
    page.wait_for_timeout(500)
    page.screenshot(path=str(out / "models.png"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="haysay-screenshots-"))
    try:
        home = scratch / "home"
        (home / "catalogues").mkdir(parents=True)
        (home / "catalogues" / "voices.json").write_text(json.dumps(DEMO_NATIVE))
        cat = scratch / "architectures" / "rvc" / "character_models.json"
        cat.parent.mkdir(parents=True)
        cat.write_text(json.dumps(DEMO_CATALOGUE))
        with running_studio(home, "--catalogue", str(cat)) as url, browser_page(1600, 900) as page:
            editor_and_compare(page, url, args.out)
            models(page, url, args.out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for name in ("editor", "compare", "models"):
        print(args.out / f"{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
