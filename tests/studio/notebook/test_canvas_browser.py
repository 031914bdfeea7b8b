"""The canvas widget's ESM (the studio's vue-flow editor, bundled for anywidget) in a real
browser, with a stand-in for anywidget's model: connecting two handles and dragging a node
edit `doc_json`, the Python widget applies that to the pipeline, and what Python sends
back re-renders the canvas. Delete, duplicate and undo go through the same round trip."""
import json
import os
import re
from pathlib import Path

import pytest

import haysay
from haysay.graph_engine.engine import StageEvent
from haysay.studio.bundle import BUNDLE_DIR
from haysay.studio.notebook import CanvasWidget

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ESM = BUNDLE_DIR / "notebook_canvas.js"
SHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "notebook"
SYNCED = ("doc_json", "specs", "auto_positions", "problems", "error", "states", "height")
AUDIO_RGB = "rgb(67, 160, 71)"  # PORT_COLORS["Audio"] (#43a047) in studio/elements/node_canvas.py

# A minimal anywidget model: get/set/on/off/save_changes, `set` firing change events as Backbone does.
HARNESS = """
async ({src, state}) => {
  const handlers = {};
  const model = {
    state, saved: [],
    get(k) { return this.state[k]; },
    set(k, v) { this.state[k] = v; (handlers["change:" + k] || []).forEach((f) => f()); },
    save_changes() { this.saved.push(this.state.doc_json); },
    sent: [],
    send(content) { this.sent.push(content); },
    on(name, f) { (handlers[name] = handlers[name] || []).push(f); },
    off(name, f) { handlers[name] = (handlers[name] || []).filter((g) => g !== f); },
  };
  window.hsModel = model;
  const url = URL.createObjectURL(new Blob([src], {type: "text/javascript"}));
  const mod = await import(url);
  window.hsCleanup = mod.default.render({model, el: document.getElementById("root")});
}
"""


def center(page, selector):
    box = page.locator(selector).bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def handle(node, kind, port):
    return f'[data-node-id="{node}"] .hs-port-{kind}[data-port="{port}"] .vue-flow__handle'


def drag(page, start, end):
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=6)
    page.mouse.move(*end, steps=6)
    page.mouse.up()


def front_doc(page):
    return json.loads(page.evaluate("window.hsModel.get('doc_json')"))


def push_from_python(page, widget):
    """What anywidget does after Python changes traitlets: set each on the front end's model."""
    state = {k: getattr(widget, k) for k in SYNCED}
    page.evaluate("(s) => { for (const [k, v] of Object.entries(s)) window.hsModel.set(k, v); }", state)


def zoom(page):
    transform = page.locator(".vue-flow__transformationpane").get_attribute("style")
    return float(re.search(r"scale\(([\d.]+)\)", transform).group(1))


def test_bundle_is_self_contained():
    src = ESM.read_text()
    assert str(CanvasWidget._esm) == src  # anywidget reads the path into the file's text
    assert not re.search(r"""(?:^|;)\s*import\s*[\w{*"']|\}\s*from\s*["']""", src)  # no import left for an import map
    assert "http://" not in src.replace("http://www.w3.org", "") and "https://cdn" not in src
    assert "HaysayNodeCanvas" in src and "vue-flow__handle" in src  # the studio's component, vue-flow inside


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs chromium")
def test_canvas_edits_in_the_browser_reach_the_pipeline():
    from playwright.sync_api import sync_playwright

    p = haysay.Pipeline("canvas")
    p.add("gen.tone", id="tone")
    gain = p.add("audio.gain", id="gain")
    widget = CanvasWidget(p, height=420)
    state = {k: getattr(widget, k) for k in SYNCED}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_content('<div id="root" style="width:900px"></div>')
        page.evaluate(HARNESS, {"src": ESM.read_text(), "state": state})
        page.wait_for_selector('[data-node-id="gain"].hs-invalid')  # the unconnected input, as the studio shows it
        assert page.locator(".vue-flow__node").count() == 2 and page.locator(".vue-flow__minimap").count() == 1
        assert "audio" in page.locator('[data-node-id="gain"] .hs-errors').inner_text()
        page.wait_for_timeout(500)  # the initial fit-view animation

        drag(page, center(page, handle("tone", "out", "audio")), center(page, handle("gain", "in", "audio")))
        assert front_doc(page)["edges"] == [{"from": "tone.audio", "to": "gain.audio"}]
        widget.doc_json = page.evaluate("window.hsModel.get('doc_json')")  # anywidget's sync to Python
        assert [(e.source, e.target) for e in p.doc.edges] == [("tone.audio", "gain.audio")]
        assert widget.problems == [] and widget.error == ""
        push_from_python(page, widget)
        page.wait_for_selector('[data-node-id="gain"]:not(.hs-invalid)')
        edge = page.locator(".vue-flow__edge-path")
        assert edge.count() == 1 and AUDIO_RGB in edge.get_attribute("style")

        start = widget.auto_positions["gain"]  # gain has no position of its own yet
        z = zoom(page)
        x, y = center(page, '[data-node-id="gain"] .hs-head')
        drag(page, (x, y), (x + 90, y + 60))
        moved = next(n for n in front_doc(page)["nodes"] if n["id"] == "gain")["position"]
        assert (moved["x"] - start[0], moved["y"] - start[1]) == pytest.approx((90 / z, 60 / z), abs=10)  # 10: snap grid
        widget.doc_json = page.evaluate("window.hsModel.get('doc_json')")
        assert gain.position == (moved["x"], moved["y"])
        push_from_python(page, widget)

        widget.on_event(StageEvent(run_id="r1", node="tone", status="done", progress=1.0))  # as p.run(on_event=...) would
        push_from_python(page, widget)
        page.wait_for_selector('[data-node-id="tone"][data-status="done"] .hs-badge')
        played = []
        widget.on_play(lambda node, port: played.append((node, port)))
        page.click('[data-node-id="tone"] .hs-play')  # done audio is playable, as in the studio
        for msg in page.evaluate("window.hsModel.sent"):
            widget._handle_custom_msg(msg, [])  # what anywidget does with model.send()
        assert played == [("tone", "audio")]
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "canvas_widget.png"))

        # a refused edit: Python keeps the pipeline and sends the old document back with the reason
        bad = front_doc(page)
        bad["edges"].append({"from": "tone.audio", "to": "gain.audio"})
        widget.doc_json = json.dumps(bad)
        assert "already fed" in widget.error and len(p.doc.edges) == 1
        push_from_python(page, widget)
        assert "already fed" in page.locator(".hs-nb-error").inner_text()
        assert len(front_doc(page)["edges"]) == 1

        page.click('[data-node-id="gain"] .hs-head')
        page.keyboard.press("Control+d")
        dup = next(n for n in front_doc(page)["nodes"] if n["id"] == "gain_2")
        assert (dup["position"]["x"] - moved["x"], dup["position"]["y"] - moved["y"]) == (40, 40)
        widget.doc_json = page.evaluate("window.hsModel.get('doc_json')")
        assert [n.id for n in p.doc.nodes] == ["tone", "gain", "gain_2"]
        push_from_python(page, widget)
        page.wait_for_selector('[data-node-id="gain_2"]')

        page.click('[data-node-id="tone"] .hs-head')
        page.keyboard.press("Delete")
        doc = front_doc(page)
        assert [n["id"] for n in doc["nodes"]] == ["gain", "gain_2"] and doc["edges"] == []
        page.locator(".hs-canvas").press("Control+z")  # the deleted node had the focus
        assert front_doc(page)["edges"] == [{"from": "tone.audio", "to": "gain.audio"}]
        assert len(page.evaluate("window.hsModel.saved")) == 5  # connect, move, duplicate, delete, undo
        widget.doc_json = page.evaluate("window.hsModel.get('doc_json')")
        assert [n.id for n in p.doc.nodes] == ["tone", "gain", "gain_2"] and len(p.doc.edges) == 1
        page.evaluate("window.hsCleanup()")
        assert page.locator(".vue-flow").count() == 0
        browser.close()
    assert errors == []
