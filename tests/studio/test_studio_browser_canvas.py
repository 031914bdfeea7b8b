"""The node canvas as a fuller editor in the studio: params on the cards, collapse, bypass/mute,
and fit-to-view that keeps card titles readable."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from .conftest import CHROMIUM
from .test_studio_browser import _import, _select, browser_page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs /usr/bin/chromium")]

PIPE = {"format": "haysay.pipeline/1", "name": "cards",
        "nodes": [{"id": "tone", "type": "gen.tone", "params": {"frequency": 123.456}},
                  {"id": "gain", "type": "audio.gain", "params": {"gain_db": -6.0}}],
        "edges": [{"from": "tone.audio", "to": "gain.audio"}]}


def _saved_doc(page, until: str) -> dict:
    """The document the studio autosaved to the tab, once `until` (a JS test on it, `d`) holds."""
    page.wait_for_function(f"() => {{ const t = sessionStorage.getItem('haysay.workflow'); "
                           f"if (!t) return false; const d = JSON.parse(t); return {until}; }}")
    return json.loads(page.evaluate("sessionStorage.getItem('haysay.workflow')"))


def _node(doc: dict, nid: str) -> dict:
    return next(n for n in doc["nodes"] if n["id"] == nid)


def _open(start_studio, page, doc) -> None:
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    _import(page, doc)
    page.wait_for_timeout(700)  # the import's fit-view animation has ended


def test_card_params_edit_the_document_and_refuse_bad_text(start_studio, browser_page):
    page, page_errors = browser_page
    _open(start_studio, page, PIPE)
    freq = page.locator('[data-node-id="tone"] .hs-params [data-param="frequency"]')
    assert freq.input_value() == "123.456"  # the stored value exactly, not rounded
    assert page.locator('[data-node-id="tone"] .hs-params [data-param="waveform"]').input_value() == "sine"
    # gen.tone has 8 params: the card shows the first few and "more…"
    assert page.locator('[data-node-id="tone"] .hs-params [data-param]').count() == 5
    assert page.locator('[data-node-id="tone"] [data-more="tone"]').count() == 1

    gain = page.locator('[data-node-id="gain"] .hs-params [data-param="gain_db"]')
    assert gain.input_value() == "-6"
    gain.fill("-9.25")
    gain.press("Enter")
    doc = _saved_doc(page, "d.nodes.find((n) => n.id === 'gain').params.gain_db === -9.25")
    assert _node(doc, "gain")["params"] == {"gain_db": -9.25}
    page.wait_for_function("() => document.querySelector('[data-node-id=\"gain\"] [data-param=\"gain_db\"]').value === '-9.25'")

    gain.fill("loud")
    gain.press("Enter")
    err = page.locator('[data-node-id="gain"] .hs-field-error')
    err.wait_for()
    assert "gain_db" in err.inner_text() and "number" in err.inner_text()
    gain.fill("100")  # above the schema's maximum of 48 dB
    gain.press("Enter")
    page.wait_for_function("() => /at most 48/.test(document.querySelector('[data-node-id=\"gain\"] .hs-field-error').textContent)")
    page.wait_for_timeout(1500)  # an autosave tick or two: nothing was written
    assert _node(_saved_doc(page, "true"), "gain")["params"] == {"gain_db": -9.25}

    # an enum select writes the option chosen
    page.select_option('[data-node-id="tone"] [data-param="waveform"]', "sweep")
    doc = _saved_doc(page, "d.nodes.find((n) => n.id === 'tone').params.waveform === 'sweep'")
    assert _node(doc, "tone")["params"] == {"frequency": 123.456, "waveform": "sweep"}

    # "more…" opens the side panel on that node's full form
    page.click('[data-more="tone"]')
    page.wait_for_selector('input[data-field="seed"]')
    assert page_errors == []


def test_collapse_and_bypass_mute(start_studio, browser_page):
    page, page_errors = browser_page
    _open(start_studio, page, PIPE)
    card = page.locator('[data-node-id="tone"]')
    tall = card.bounding_box()["height"]
    page.click('[data-collapse="tone"]')
    page.wait_for_selector('[data-node-id="tone"].hs-collapsed')
    assert card.locator(".hs-params").count() == 0 and card.locator(".hs-port").count() == 1  # title + ports
    assert card.bounding_box()["height"] < tall * 0.6

    _select(page, "gain")
    page.keyboard.press("Control+b")
    page.wait_for_selector('[data-node-id="gain"][data-mode="bypass"]')
    assert page.locator('[data-node-id="gain"] .hs-mode-tag').inner_text() == "bypass"
    bg = page.locator('[data-node-id="gain"]').evaluate("(el) => getComputedStyle(el).backgroundColor")
    assert bg == "rgb(243, 229, 245)"  # purple tint
    assert _node(_saved_doc(page, "d.nodes.find((n) => n.id === 'gain').mode === 'bypass'"), "gain")["mode"] == "bypass"
    page.keyboard.press("Control+m")
    page.wait_for_selector('[data-node-id="gain"][data-mode="mute"]')
    assert float(page.locator('[data-node-id="gain"]').evaluate("(el) => getComputedStyle(el).opacity")) < 0.9
    page.keyboard.press("Control+m")  # all selected muted already: unmutes
    page.wait_for_selector('[data-node-id="gain"][data-mode=""]')
    assert "mode" not in _node(_saved_doc(page, "!('mode' in d.nodes.find((n) => n.id === 'gain'))"), "gain")
    assert page_errors == []


def test_fit_keeps_titles_at_least_11px_on_a_30_node_graph(start_studio, browser_page):
    page, page_errors = browser_page
    nodes = [{"id": f"g{i}", "type": "audio.gain", "params": {}} for i in range(30)]
    edges = [{"from": f"g{i}.audio", "to": f"g{i + 1}.audio"} for i in range(29)]
    _open(start_studio, page, {"format": "haysay.pipeline/1", "nodes": nodes, "edges": edges})
    page.click('[data-testid="fit"]')
    page.wait_for_timeout(800)
    style = page.locator(".vue-flow__transformationpane").get_attribute("style")
    zoom = float(re.search(r"scale\(([\d.]+)\)", style).group(1))
    font = float(page.locator('[data-node-id="g0"] .hs-title').evaluate("(el) => parseFloat(getComputedStyle(el).fontSize)"))
    assert font * zoom >= 11 - 1e-6, (font, zoom)
    # and the title is drawn that tall on screen
    assert page.locator('[data-node-id="g0"] .hs-title').bounding_box()["height"] >= 11
    assert page_errors == []


def test_group_from_selection_drags_its_members_rename_ungroup(start_studio, browser_page):
    page, page_errors = browser_page
    doc = {**PIPE, "nodes": [*PIPE["nodes"], {"id": "solo", "type": "audio.gain", "params": {}}]}
    _open(start_studio, page, doc)
    page.click('[data-node-id="tone"] .hs-head')
    page.click('[data-node-id="gain"] .hs-head', modifiers=["Control"])
    page.wait_for_selector('[data-node-id="gain"].hs-selected')
    page.locator(".hs-canvas").press("Control+g")
    page.wait_for_selector('[data-group-id="group_1"]')
    saved = _saved_doc(page, "!!d.groups")
    assert saved["groups"] == [{"id": "group_1", "title": "Group 1", "nodes": ["tone", "gain"], "color": "#7e57c2"}]
    before = {n["id"]: n["position"] for n in saved["nodes"]}
    # the frame encloses its members, not the third node
    frame = page.locator('[data-group-id="group_1"]').bounding_box()
    for nid in ("tone", "gain"):
        b = page.locator(f'[data-node-id="{nid}"]').bounding_box()
        assert frame["x"] < b["x"] and frame["y"] < b["y"] and b["x"] + b["width"] < frame["x"] + frame["width"]
        assert b["y"] + b["height"] < frame["y"] + frame["height"]

    style = page.locator(".vue-flow__transformationpane").get_attribute("style")
    z = float(re.search(r"scale\(([\d.]+)\)", style).group(1))
    head = page.locator('[data-group-id="group_1"] .hs-group-title').bounding_box()
    x, y = head["x"] + 10, head["y"] + head["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 60, y + 40, steps=5)
    page.mouse.move(x + 120, y + 80, steps=5)
    page.mouse.up()
    saved = _saved_doc(page, f"d.nodes.find((n) => n.id === 'tone').position.x !== {before['tone']['x']}")
    after = {n["id"]: n["position"] for n in saved["nodes"]}
    for nid in ("tone", "gain"):
        assert after[nid]["x"] - before[nid]["x"] == pytest.approx(120 / z, abs=12)  # 12: the snap grid
        assert after[nid]["y"] - before[nid]["y"] == pytest.approx(80 / z, abs=12)
    assert after["solo"] == before["solo"]

    page.once("dialog", lambda d: d.accept("Voice chain"))
    page.click('[data-group-rename="group_1"]')
    page.wait_for_selector('[data-group-id="group_1"] .hs-group-title:has-text("Voice chain")')
    assert _saved_doc(page, "d.groups && d.groups[0].title === 'Voice chain'")["groups"][0]["nodes"] == ["tone", "gain"]
    page.click('[data-group-ungroup="group_1"]')
    page.wait_for_selector('[data-group-id="group_1"]', state="detached")
    assert "groups" not in _saved_doc(page, "!d.groups")
    assert page_errors == []


def test_reroute_point_on_a_wire_is_stored_dragged_and_removed(start_studio, browser_page):
    page, page_errors = browser_page
    _open(start_studio, page, PIPE)
    page.wait_for_timeout(800)  # the viewport stands still (a loaded machine animates the fit slowly)
    wire = page.locator(".vue-flow__edge-path").first.bounding_box()
    # an S-shaped wire passes through the middle of its bounding box
    page.mouse.dblclick(wire["x"] + wire["width"] / 2, wire["y"] + wire["height"] / 2)
    saved = _saved_doc(page, "!!d.edges[0].via")
    (point,) = saved["edges"][0]["via"]
    assert page.locator(".vue-flow__node").count() == 2  # no node search opened, nothing added
    dot = page.locator('[data-via="tone.audio->gain.audio#0"]')
    dot.wait_for()
    # the wire is drawn through the point
    assert f"L {point['x']:g} {point['y']:g}" in page.locator(".vue-flow__edge-path").first.get_attribute("d").replace(".0 ", " ")

    style = page.locator(".vue-flow__transformationpane").get_attribute("style")
    z = float(re.search(r"scale\(([\d.]+)\)", style).group(1))
    b = dot.bounding_box()
    x, y = b["x"] + b["width"] / 2, b["y"] + b["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y + 50, steps=4)
    page.mouse.move(x, y + 100, steps=4)
    page.mouse.up()
    saved = _saved_doc(page, f"d.edges[0].via && d.edges[0].via[0].y !== {point['y']}")
    (moved,) = saved["edges"][0]["via"]
    assert moved["y"] - point["y"] == pytest.approx(100 / z, abs=3) and moved["x"] == pytest.approx(point["x"], abs=3)

    dot.click(button="right")
    assert "via" not in _saved_doc(page, "!d.edges[0].via")["edges"][0]
    page.wait_for_selector('[data-via="tone.audio->gain.audio#0"]', state="detached")
    assert page_errors == []


def test_auto_layout_stacks_tall_cards_without_overlap(start_studio, browser_page):
    page, page_errors = browser_page
    # a column of tall cards (gen.tone shows five params and "more…") beside short ones
    nodes = [{"id": f"t{i}", "type": "gen.tone", "params": {}} for i in range(3)] + \
        [{"id": "mix", "type": "audio.mix", "params": {}}, {"id": "gain", "type": "audio.gain", "params": {}}]
    edges = [{"from": f"t{i}.audio", "to": "mix.audio"} for i in range(1)] + [{"from": "mix.audio", "to": "gain.audio"}]
    _open(start_studio, page, {"format": "haysay.pipeline/1", "nodes": nodes, "edges": edges})
    page.click('[data-testid="layout"]')
    page.wait_for_timeout(900)  # layout, then its fit
    boxes = {n["id"]: page.locator(f'[data-node-id="{n["id"]}"]').bounding_box() for n in nodes}
    ids = list(boxes)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            p, q = boxes[a], boxes[b]
            apart = (p["x"] + p["width"] <= q["x"] or q["x"] + q["width"] <= p["x"]
                     or p["y"] + p["height"] <= q["y"] or q["y"] + q["height"] <= p["y"])
            assert apart, (a, b, p, q)
    assert page_errors == []
