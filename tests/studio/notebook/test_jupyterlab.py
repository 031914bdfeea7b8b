"""The widgets in a real JupyterLab (issue 14): JupyterLab on 127.0.0.1 with a token, a notebook
opened and run in Chromium. Showing a ParamsForm leaves the params as they were to the bit
(ipywidgets' own slider and text views rendering them); on the canvas, a node is dragged and
a param changed, and the kernel's pipeline shows both; a node added from Python then survives
Ctrl+Z on the canvas, which undoes the canvas's param edit only.

The kernel writes its pipeline's JSON to a file after every edit, so the test reads the
Python document itself, not what the page shows."""
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

SETUP = """import json, haysay
from haysay.studio.notebook import CanvasWidget, ParamsForm
p = haysay.Pipeline("lab")
tone = p.add("gen.tone", id="tone", duration=0.5)
conv = p.add("vc.world", id="conv", f0_shift=-1.5, formant_shift=1.1, f0_floor=50.21)
tone >> conv
DOC = {path!r}
def dump(pipeline):
    with open(DOC + ".tmp", "w") as f:
        f.write(pipeline.to_json())
    __import__("os").replace(DOC + ".tmp", DOC)
dump(p)
p.subscribe(dump)
form = ParamsForm(conv)
form"""
CANVAS = "canvas = CanvasWidget(p, height=420)\ncanvas"
PYTHON_EDIT = 'late = p.add("audio.fade", id="late")\nconv >> late\nprint("added", late.id)'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def lab(tmp_path):
    doc = tmp_path / "doc.json"
    yield from start_lab(tmp_path, [SETUP.format(path=str(doc)), CANVAS, PYTHON_EDIT], doc=doc)


def start_lab(tmp_path, cells: list[str], **extra):
    """JupyterLab on 127.0.0.1 with a token, serving lab.ipynb made of `cells` (a generator fixture body)."""
    pytest.importorskip("jupyterlab")
    if not os.path.exists(CHROMIUM):
        pytest.skip("needs chromium")
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "lab.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "HAYSAY_HOME": str(tmp_path / "home"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws")}
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}", "--ServerApp.port_retries=0",
         "--allow-root", "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.extension_manager=readonly"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):  # up to 60 s for the server
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:])
        yield {"url": f"{base}/lab/tree/lab.ipynb?token={token}", "log": tmp_path / "lab.log",
               "notebook": tmp_path / "lab.ipynb", **extra}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def read_doc(path: Path, want=None, timeout: float = 20.0) -> dict:
    """The kernel's pipeline as it last wrote it; waits (bounded) until `want(doc)` holds."""
    deadline = time.time() + timeout
    doc = None
    while time.time() < deadline:
        if path.exists():
            doc = json.loads(path.read_text())
            if want is None or want(doc):
                return doc
        time.sleep(0.2)
    return doc


def node(doc: dict, nid: str) -> dict:
    return next(n for n in doc["nodes"] if n["id"] == nid)


def open_notebook(pw, lab: dict, args: tuple[str, ...] = ()):
    """(browser, page) with the lab's notebook open and its kernel idle."""
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS + list(args))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(lab["url"])
    page.wait_for_selector(".jp-Notebook .jp-Cell .jp-InputArea-editor")
    page.wait_for_selector(".jp-StatusBar-TextItem:has-text('Idle')", timeout=90_000)
    return browser, page


def run_cell(page, index: int) -> None:
    """Select the cell and press the toolbar's run button; retried (bounded) while the kernel connects."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    for _ in range(10):
        cell.locator(".jp-InputArea-prompt").click()
        page.locator(".jp-NotebookPanel-toolbar [data-command='notebook:run-cell-and-select-next']").click()
        try:
            page.wait_for_function("(el) => /\\[[0-9*]+\\]/.test(el.textContent)",
                                   arg=cell.locator(".jp-InputArea-prompt").element_handle(), timeout=5_000)
            return
        except Exception:  # noqa: BLE001 - not run yet: the kernel was still connecting
            continue
    raise AssertionError(f"cell {index} never ran")


def test_widgets_in_jupyterlab_keep_params_and_edit_one_document(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        shots = Path(__file__).resolve().parents[3] / "test-artifacts" / "notebook"
        shots.mkdir(parents=True, exist_ok=True)
        try:
            drive(page, lab)
        finally:
            page.screenshot(path=str(shots / "jupyterlab.png"), full_page=True)
        browser.close()
    assert not [e for e in errors if "haysay" in e.lower() or "vue" in e.lower()], errors


def drive(page, lab):
    if True:
        page.goto(lab["url"])
        page.wait_for_selector(".jp-Notebook .jp-Cell .jp-InputArea-editor")
        page.wait_for_selector(".jp-StatusBar-TextItem:has-text('Idle')", timeout=90_000)

        run_cell(page, 0)
        page.wait_for_selector(".widget-slider .noUi-handle", timeout=30_000)  # ipywidgets' own slider view is up
        page.wait_for_timeout(1500)  # time for any view to echo a value back
        first = read_doc(lab["doc"])
        assert node(first, "conv")["params"] == {"f0_shift": -1.5, "formant_shift": 1.1, "f0_floor": 50.21}
        boxes = page.locator(".widget-text input[type='number']")
        shown = [boxes.nth(i).input_value() for i in range(boxes.count())]
        assert "-1.5" in shown and "1.1" in shown and "50.21" in shown

        run_cell(page, 1)
        page.wait_for_selector('.hs-nb-host [data-node-id="conv"]')
        news = page.locator(".jp-toast-container button:has-text('No')")
        if news.count():
            news.first.click()  # the "official Jupyter news?" toast would sit over the canvas
        page.locator(".hs-nb-host").scroll_into_view_if_needed()
        page.wait_for_timeout(800)  # the initial fit-view
        head = page.locator('[data-node-id="conv"] .hs-head').bounding_box()
        x, y = head["x"] + head["width"] / 2, head["y"] + head["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 40, y + 30, steps=5)
        page.mouse.move(x + 80, y + 60, steps=5)
        page.mouse.up()
        moved = read_doc(lab["doc"], lambda d: "position" in node(d, "conv"))
        assert "position" in node(moved, "conv")

        page.click('[data-node-id="conv"] .hs-head')
        field = page.locator('.hs-nb-params [data-param="f0_shift"]')
        assert field.input_value() == "-1.5"
        field.fill("2.5")
        field.press("Enter")
        edited = read_doc(lab["doc"], lambda d: node(d, "conv")["params"].get("f0_shift") == 2.5)
        assert node(edited, "conv")["params"] == {"f0_shift": 2.5, "formant_shift": 1.1, "f0_floor": 50.21}

        run_cell(page, 2)  # an edit from Python between canvas edits
        page.wait_for_selector('.hs-nb-host [data-node-id="late"]')
        page.locator('.hs-nb-host .hs-canvas').focus()
        page.keyboard.press("Control+z")
        undone = read_doc(lab["doc"], lambda d: node(d, "conv")["params"].get("f0_shift") == -1.5)
        assert node(undone, "conv")["params"] == {"f0_shift": -1.5, "formant_shift": 1.1, "f0_floor": 50.21}
        assert "late" in [n["id"] for n in undone["nodes"]] and {"from": "conv.audio", "to": "late.audio"} in undone["edges"]
        assert "position" in node(undone, "conv")  # the move stays: only one step was undone


PLAYER_CELLS = ['import haysay\np = haysay.Pipeline("listen")\np.add("gen.tone", id="tone", duration=1.5, frequency=330)\n'
                'run = p.run()', 'run["tone"].play()']


@pytest.fixture()
def player_lab(tmp_path):
    yield from start_lab(tmp_path, PLAYER_CELLS)


def test_player_fetches_audio_from_the_kernel_and_saves_a_reference(player_lab):
    """A player shown in JupyterLab plays a blob URL filled from the kernel (1.5 s, as the
    browser decodes it), and the saved notebook's output for that cell is a reference of a
    few hundred bytes, not an embedded clip."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser, page = open_notebook(pw, player_lab)
        run_cell(page, 0)
        run_cell(page, 1)
        page.wait_for_selector(".hs-live-audio audio[data-hs-state='loaded']", timeout=60_000)
        page.wait_for_function("() => { const a = document.querySelector('.hs-live-audio audio');"
                               " return a && isFinite(a.duration) && a.duration > 0; }", timeout=30_000)
        src, duration = page.evaluate("() => { const a = document.querySelector('.hs-live-audio audio');"
                                      " return [a.src, a.duration]; }")
        page.keyboard.press("Control+s")
        saved = None
        for _ in range(60):  # bounded: up to 30 s for the save
            nb = json.loads(player_lab["notebook"].read_text())
            if nb["cells"][1].get("outputs"):
                saved = nb
                break
            page.wait_for_timeout(500)
        browser.close()
    assert src.startswith("blob:")
    assert duration == pytest.approx(1.5, abs=0.01)
    assert saved is not None, "the notebook was not saved with outputs"
    outputs = saved["cells"][1]["outputs"]
    size = len(json.dumps(outputs))
    print(f"saved player output: {size} bytes")
    assert size < 2000, outputs
    assert "application/vnd.jupyter.widget-view+json" in outputs[0]["data"]
    assert "base64" not in json.dumps(outputs)
