"""The notebook canvas mounts the studio's NodeCanvas with its card editing: param inputs on the
cards whose edits reach the Python pipeline as `set` operations (undoable from the canvas),
refused text that sends nothing, collapse, and nodes added from Python laid out beside the
placed ones without overlapping them."""
import os

import pytest

import haysay
from haysay.studio.notebook import CanvasWidget

from .test_canvas_browser import CHROMIUM, ESM, HARNESS, SYNCED, deliver, inside, push_from_python

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs chromium")]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def _overlap(a, b) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def test_card_params_edit_the_pipeline_through_operations():
    from playwright.sync_api import sync_playwright

    p = haysay.Pipeline("cards")
    tone = p.add("gen.tone", id="tone", position=(0, 0), frequency=123.456)
    gain = p.add("audio.gain", id="gain", position=(300, 0), gain_db=-6.0)
    tone >> gain
    widget = CanvasWidget(p, height=520)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_content('<div id="root" style="width:1000px"></div>')
        page.evaluate(HARNESS, {"src": ESM.read_text(), "state": {k: getattr(widget, k) for k in SYNCED}})
        page.wait_for_selector('[data-node-id="gain"] .hs-params [data-param="gain_db"]')
        page.wait_for_timeout(500)  # the initial fit-view animation
        card = '[data-node-id="{}"] .hs-params [data-param="{}"]'
        assert page.locator(card.format("tone", "frequency")).input_value() == "123.456"
        assert page.locator(card.format("tone", "waveform")).input_value() == "sine"
        assert page.locator(card.format("gain", "gain_db")).input_value() == "-6"

        box = page.locator(card.format("gain", "gain_db"))
        box.fill("-3.5")
        box.press("Enter")
        assert deliver(page, widget) == [{"event": "ops", "ops": [{"op": "set", "id": "gain", "params": {"gain_db": -3.5}}]}]
        assert gain.doc.params == {"gain_db": -3.5}
        page.wait_for_function("() => document.querySelector('[data-node-id=\"gain\"] [data-param=\"gain_db\"]').value === '-3.5'")

        box.fill("-3.5 dB")  # not a number: an error on the card, nothing sent
        box.press("Enter")
        page.wait_for_selector('[data-node-id="gain"] .hs-field-error')
        assert deliver(page, widget) == [] and gain.doc.params == {"gain_db": -3.5}
        seed = page.locator('[data-node-id="tone"] [data-more="tone"]')
        assert seed.count() == 1  # eight params: five on the card, more… opens the panel below
        seed.click()
        page.wait_for_selector('.hs-nb-params[data-node="tone"] [data-param="seed"]')

        page.locator(".hs-canvas").press("Control+z")  # the card edit was a canvas operation: undoable
        deliver(page, widget)
        assert gain.doc.params == {"gain_db": -6.0}

        page.click('[data-collapse="tone"]')
        page.wait_for_selector('[data-node-id="tone"].hs-collapsed')
        assert page.locator('[data-node-id="tone"] .hs-params').count() == 0

        # nodes added from Python without positions: beside the placed ones, no card on another, all fitted on screen
        fade = p.add("audio.fade", id="fade")
        gain >> fade
        extra = p.add("gen.tone", id="extra")  # a tall card (five params): placed below, clear of the others
        push_from_python(page, widget)
        page.wait_for_selector('[data-node-id="extra"]')
        page.wait_for_timeout(700)  # the fit the push asked for
        ids = ["tone", "gain", "fade", "extra"]
        boxes = {n: page.locator(f'[data-node-id="{n}"]').bounding_box() for n in ids}
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                assert not _overlap(boxes[a], boxes[b]), (a, b, boxes[a], boxes[b])
        assert all(inside(page, n) for n in ids)
        assert boxes["fade"]["x"] > boxes["gain"]["x"]  # right of its source
        browser.close()
    assert errors == []


def test_bypass_and_groups_on_the_notebook_canvas_are_operations():
    from playwright.sync_api import sync_playwright

    p = haysay.Pipeline("modes")
    tone = p.add("gen.tone", id="tone", position=(0, 0))
    gain = p.add("audio.gain", id="gain", position=(300, 0))
    tone >> gain
    widget = CanvasWidget(p, height=520)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_content('<div id="root" style="width:1000px"></div>')
        page.evaluate(HARNESS, {"src": ESM.read_text(), "state": {k: getattr(widget, k) for k in SYNCED}})
        page.wait_for_selector('[data-node-id="gain"]')
        page.wait_for_timeout(500)
        page.click('[data-node-id="gain"] .hs-head')
        page.locator(".hs-canvas").press("Control+b")
        assert deliver(page, widget) == [{"event": "ops", "ops": [{"op": "mode", "id": "gain", "mode": "bypass"}]}]
        assert gain.mode == "bypass"
        page.wait_for_selector('[data-node-id="gain"][data-mode="bypass"]')  # the card shows Python's document

        page.click('[data-node-id="gain"] .hs-head')
        page.click('[data-node-id="tone"] .hs-head', modifiers=["Control"])
        page.wait_for_function("document.querySelectorAll('.vue-flow__node.selected').length === 2")
        page.locator(".hs-canvas").press("Control+g")
        deliver(page, widget)
        assert [(g.id, sorted(g.nodes)) for g in p.groups] == [("group_1", ["gain", "tone"])]
        page.wait_for_selector('[data-group-id="group_1"]')
        page.click('[data-group-ungroup="group_1"]')
        deliver(page, widget)
        assert p.groups == []
        page.wait_for_selector('[data-group-id="group_1"]', state="detached")
        page.locator(".hs-canvas").press("Control+z")  # the ungroup, then the group, then the bypass
        deliver(page, widget)
        assert [g.id for g in p.groups] == ["group_1"]
        browser.close()
    assert errors == []
