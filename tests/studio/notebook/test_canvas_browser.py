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
SYNCED = ("doc_json", "specs", "palette", "auto_positions", "problems", "error", "states", "fit", "height")
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


def deliver(page, widget):
    """What anywidget does with the front end's model.send(): hand each message to Python,
    then sync Python's traitlets back to the front end."""
    msgs = page.evaluate("window.hsModel.sent.splice(0)")
    for msg in msgs:
        widget._handle_custom_msg(msg, [])
    push_from_python(page, widget)
    return msgs


def inside(page, node, host=".hs-nb-host"):
    box, frame = page.locator(f'[data-node-id="{node}"]').bounding_box(), page.locator(host).bounding_box()
    return (box["x"] >= frame["x"] and box["y"] >= frame["y"] and box["x"] + box["width"] <= frame["x"] + frame["width"]
            and box["y"] + box["height"] <= frame["y"] + frame["height"])


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs chromium")
def test_canvas_edits_in_the_browser_reach_the_pipeline():
    from playwright.sync_api import sync_playwright

    p = haysay.Pipeline("canvas")
    tone = p.add("gen.tone", id="tone", frequency=123.456)
    gain = p.add("audio.gain", id="gain")
    widget = CanvasWidget(p, height=420)
    state = {k: getattr(widget, k) for k in SYNCED}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_content('<div id="root" style="width:1000px"></div>')
        page.evaluate(HARNESS, {"src": ESM.read_text(), "state": state})
        page.wait_for_selector('[data-node-id="gain"].hs-invalid')  # the unconnected input, as the studio shows it
        assert page.locator(".vue-flow__node").count() == 2
        assert not page.locator(".vue-flow__minimap").is_visible()  # 420 px: it would cover the last ports
        assert "audio" in page.locator('[data-node-id="gain"] .hs-errors').inner_text()
        assert page.locator('.hs-nb-palette .hs-palette-item[data-node-type="tts.espeak"]').count() == 1  # the palette
        page.wait_for_timeout(500)  # the initial fit-view animation

        drag(page, center(page, handle("tone", "out", "audio")), center(page, handle("gain", "in", "audio")))
        sent = deliver(page, widget)
        assert sent == [{"event": "ops", "ops": [{"op": "connect", "from": "tone.audio", "to": "gain.audio"}]}]
        assert [(e.source, e.target) for e in p.doc.edges] == [("tone.audio", "gain.audio")]
        assert widget.problems == [] and widget.error == ""
        page.wait_for_selector('[data-node-id="gain"]:not(.hs-invalid)')
        edge = page.locator(".vue-flow__edge-path")
        assert edge.count() == 1 and AUDIO_RGB in edge.get_attribute("style")

        page.wait_for_timeout(800)  # a refit the wiring may start (its animation) must end before the drag
        # gain has no position of its own yet: it is drawn where it was first auto-placed (wiring it may
        # give it another auto position, which the canvas need not jump to), so start from where it is drawn
        start = page.locator('[data-node-id="gain"]').evaluate(
            "e => { const m = e.closest('.vue-flow__node').style.transform.match(/translate\\(([-\\d.]+)px, ([-\\d.]+)px\\)/);"
            " return [parseFloat(m[1]), parseFloat(m[2])]; }")
        assert gain.position is None
        z = zoom(page)
        x, y = center(page, '[data-node-id="gain"] .hs-head')
        drag(page, (x, y), (x + 90, y + 60))
        deliver(page, widget)
        moved = gain.position
        assert (moved[0] - start[0], moved[1] - start[1]) == pytest.approx((90 / z, 60 / z), abs=10)  # 10: snap grid

        # params on the canvas: the exact stored value shows, nothing is written until the user edits
        page.click('[data-node-id="tone"] .hs-head')
        box = page.locator('.hs-nb-params [data-param="frequency"]')
        assert box.input_value() == "123.456" and page.locator('.hs-nb-params [data-param="amplitude_db"]').input_value() == "-12"
        box.focus()
        page.keyboard.press("Tab")
        assert deliver(page, widget) == [] and tone.doc.params == {"frequency": 123.456}
        page.click('[data-node-id="gain"] .hs-head')
        page.fill('.hs-nb-params [data-param="gain_db"]', "-1.5")
        page.keyboard.press("Enter")
        deliver(page, widget)
        assert gain.doc.params == {"gain_db": -1.5} and page.locator('.hs-nb-params [data-param="gain_db"]').input_value() == "-1.5"

        # a node added from Python comes on screen beside the placed one, and survives a canvas undo
        late = p.add("audio.fade", id="late")
        gain >> late
        push_from_python(page, widget)
        page.wait_for_selector('[data-node-id="late"]')
        page.wait_for_timeout(600)  # the fit-view the push asked for
        assert all(inside(page, n) for n in ("tone", "gain", "late"))
        page.locator(".hs-canvas").press("Control+z")  # undoes the param edit, the last canvas edit
        deliver(page, widget)
        assert gain.doc.params == {} and "late" in p and ("gain.audio", "late.audio") in [(e.source, e.target) for e in p.doc.edges]

        widget.on_event(StageEvent(run_id="r1", node="tone", status="done", progress=1.0))  # as p.run(on_event=...) would
        push_from_python(page, widget)
        page.wait_for_selector('[data-node-id="tone"][data-status="done"] .hs-badge')
        played = []
        widget.on_play(lambda node, port: played.append((node, port)))
        page.click('[data-node-id="tone"] .hs-play')  # done audio is playable, as in the studio
        deliver(page, widget)
        assert played == [("tone", "audio")]
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "canvas_widget.png"))

        # a refused edit: nothing changes, the reason shows, and it takes no undo step
        steps = len(widget.undo_stack)
        drag(page, center(page, handle("tone", "out", "audio")), center(page, handle("late", "in", "audio")))
        deliver(page, widget)
        assert "already fed" in widget.error and len(p.doc.edges) == 2 and len(widget.undo_stack) == steps
        assert "already fed" in page.locator(".hs-nb-error").inner_text()

        # the palette: drag a type onto the canvas, or click it
        page.locator('.hs-nb-palette .hs-palette-item[data-node-type="audio.gain"]').drag_to(page.locator(".vue-flow__pane"), target_position={"x": 120, "y": 300})
        deliver(page, widget)
        assert "audio_gain_1" in p and p["audio_gain_1"].position is not None
        page.click('.hs-nb-palette input[data-testid="palette-search"]')
        page.keyboard.type("loudness_normalize")
        shown = page.locator(".hs-nb-palette .hs-palette-item").evaluate_all("els => els.map((e) => e.dataset.nodeType)")
        assert shown == ["audio.loudness_normalize"], (shown, page.locator('.hs-nb-palette input').input_value())
        page.click(".hs-nb-palette .hs-palette-item")
        deliver(page, widget)
        assert p.node_ids[-1].startswith("audio_loudness_normalize")

        page.click('[data-node-id="gain"] .hs-head')
        page.keyboard.press("Control+d")
        deliver(page, widget)
        assert p["gain_2"].position == (moved[0] + 40, moved[1] + 40)
        page.click('[data-node-id="tone"] .hs-head')
        page.keyboard.press("Delete")
        deliver(page, widget)
        assert "tone" not in p and [(e.source, e.target) for e in p.doc.edges] == [("gain.audio", "late.audio")]
        page.locator(".hs-canvas").press("Control+z")
        deliver(page, widget)
        assert p.node_ids[:2] == ["tone", "gain"] and tone.doc.params == {"frequency": 123.456}
        assert ("tone.audio", "gain.audio") in [(e.source, e.target) for e in p.doc.edges]
        page.evaluate("window.hsCleanup()")
        assert page.locator(".vue-flow").count() == 0
        browser.close()
    assert errors == []


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs chromium")
def test_the_minimap_shows_on_a_tall_canvas_clear_of_the_ports():
    from playwright.sync_api import sync_playwright

    p = haysay.load("examples/hello.json")
    widget = CanvasWidget(p, height=600)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.set_default_timeout(15_000)
        page.set_content('<div id="root" style="width:1000px"></div>')
        page.evaluate(HARNESS, {"src": ESM.read_text(), "state": {k: getattr(widget, k) for k in SYNCED}})
        page.wait_for_selector(".vue-flow__node")
        page.wait_for_timeout(600)
        mini = page.locator(".vue-flow__minimap").bounding_box()
        assert page.locator(".vue-flow__minimap").is_visible()
        for h_ in page.locator(".vue-flow__handle").all():
            b = h_.bounding_box()
            overlap = not (b["x"] > mini["x"] + mini["width"] or b["x"] + b["width"] < mini["x"]
                           or b["y"] > mini["y"] + mini["height"] or b["y"] + b["height"] < mini["y"])
            assert not overlap
        browser.close()
