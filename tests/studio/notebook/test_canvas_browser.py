"""The canvas widget's ESM in a real browser, with a stand-in for anywidget's model:
a drag from an output to an input connects, a node drag moves, a double-click removes an edge,
and the edited JSON, handed to the Python widget, updates the pipeline."""
import json
import os
from pathlib import Path

import pytest

import haysay
from haysay.studio.notebook import CanvasWidget

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ESM = Path(haysay.studio.notebook.__file__).parent / "canvas.js"

HARNESS = """
async ({src, state}) => {
  const handlers = {};
  const model = {
    state, saved: 0,
    get(k) { return this.state[k]; },
    set(k, v) { this.state[k] = v; (handlers["change:" + k] || []).forEach((f) => f()); },
    save_changes() { this.saved += 1; },
    on(name, f) { (handlers[name] = handlers[name] || []).push(f); },
  };
  window.hsModel = model;
  const url = URL.createObjectURL(new Blob([src], {type: "text/javascript"}));
  const mod = await import(url);
  mod.default.render({model, el: document.getElementById("root")});
}
"""


def center(page, selector):
    box = page.locator(selector).bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs chromium")
def test_canvas_edits_in_the_browser_reach_the_pipeline():
    from playwright.sync_api import sync_playwright

    p = haysay.Pipeline("canvas")
    p.add("gen.tone", id="tone")
    gain = p.add("audio.gain", id="gain")
    widget = CanvasWidget(p)
    state = {k: getattr(widget, k) for k in ("doc_json", "ports", "auto_positions", "problems", "error", "states", "height")}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.set_content('<div id="root" style="width:800px"></div>')
        page.evaluate(HARNESS, {"src": ESM.read_text(), "state": state})
        assert page.locator("g.hs-node").count() == 2
        assert page.locator('g.hs-node[data-node="gain"] rect').first.get_attribute("stroke") == "#e53935"  # unconnected

        page.mouse.move(*center(page, 'circle.hs-out[data-port="tone.audio"]'))
        page.mouse.down()
        page.mouse.move(*center(page, 'circle.hs-in[data-port="gain.audio"]'), steps=5)
        page.mouse.up()
        doc = json.loads(page.evaluate("window.hsModel.get('doc_json')"))
        assert doc["edges"] == [{"from": "tone.audio", "to": "gain.audio"}]

        x, y = center(page, 'g.hs-node[data-node="gain"] text[font-weight="bold"]')
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 60, y + 40, steps=5)
        page.mouse.up()
        doc = json.loads(page.evaluate("window.hsModel.get('doc_json')"))
        moved = next(n for n in doc["nodes"] if n["id"] == "gain")["position"]

        start = widget.auto_positions["gain"]  # where the node was drawn before the drag
        widget.doc_json = json.dumps(doc)  # what anywidget would sync back to Python
        assert p.doc.edges[0].target == "gain.audio" and gain.position == (moved["x"], moved["y"])
        assert (moved["x"] - start[0], moved["y"] - start[1]) == pytest.approx((60, 40), abs=2)

        page.locator('path.hs-edge').dblclick()
        doc = json.loads(page.evaluate("window.hsModel.get('doc_json')"))
        assert doc["edges"] == [] and page.evaluate("window.hsModel.saved") == 3
        browser.close()
