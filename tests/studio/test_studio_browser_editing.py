"""Editing like a node editor should: double-click search, a wire dropped on empty canvas, copy/paste across tabs."""
from __future__ import annotations

import json
import shutil

import pytest

from .conftest import CHROMIUM
from .test_studio_browser import _center, _import, _shot, browser_page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs /usr/bin/chromium")]


def _empty_spot(page) -> tuple[float, float]:
    box = page.locator(".vue-flow").bounding_box()
    return box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.85


def test_double_click_search_and_a_wire_dropped_on_empty_canvas(start_studio, browser_page):
    page, page_errors = browser_page
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    _import(page, {"format": "haysay.pipeline/1", "nodes": [{"id": "tone", "type": "gen.tone", "params": {}}]})
    page.wait_for_timeout(700)  # the import's fit-view animation has ended: the viewport stands still

    x, y = _empty_spot(page)
    page.mouse.dblclick(x, y)
    dialog = page.locator('[data-testid="node-search"]')
    dialog.wait_for()
    page.locator('input[data-testid="node-search-input"]').fill("gain")
    page.wait_for_selector('[data-node-choice="gen.tone"]', state="detached")
    page.click('[data-node-choice="audio.gain"]')
    node = page.locator('[data-node-id="gain"]')
    node.wait_for()
    box = node.bounding_box()
    assert abs(box["x"] - x) < 40 and abs(box["y"] - y) < 40  # where the double click was
    assert page.locator(".vue-flow__edge").count() == 0
    dialog.wait_for(state="hidden")  # its fading backdrop would take the next press

    # drag a wire out of the tone's output and let go on empty canvas: only nodes that take Audio
    sx, sy = _center(page, '[data-node-id="tone"] .hs-port-out[data-port="audio"] .vue-flow__handle')
    page.mouse.move(sx, sy)
    page.mouse.down()
    flow = page.locator(".vue-flow").bounding_box()
    ex, ey = flow["x"] + flow["width"] * 0.3, flow["y"] + flow["height"] * 0.8  # empty canvas, clear of the drawer
    page.mouse.move((sx + ex) / 2, (sy + ey) / 2, steps=8)
    page.mouse.move(ex, ey, steps=8)
    page.mouse.up()
    dialog.wait_for()
    assert "for tone.audio" in dialog.inner_text()
    choices = page.locator("[data-node-choice]").evaluate_all("els => els.map(e => e.dataset.nodeChoice)")
    assert "audio.gain" in choices and "text.value" not in choices and "gen.tone" not in choices
    page.locator('input[data-testid="node-search-input"]').fill("gain")
    page.click('[data-node-choice="audio.gain"]')
    page.wait_for_selector('.vue-flow__edge[data-id="tone.audio->gain_2.audio"]', state="attached")
    _shot(page, "editing-1-wire-search")
    assert page_errors == []


def test_copy_in_one_tab_paste_in_another(start_studio, browser_page):
    page, page_errors = browser_page
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    _import(page, {"format": "haysay.pipeline/1", "nodes": [
        {"id": "tone", "type": "gen.tone", "params": {"frequency": 523.0}},
        {"id": "gain", "type": "audio.gain", "params": {"gain_db": -4.0}}],
        "edges": [{"from": "tone.audio", "to": "gain.audio"}]})
    page.click('[data-node-id="tone"] .hs-head')
    page.click('[data-node-id="gain"] .hs-head', modifiers=["Control"])  # multi-select
    page.wait_for_selector('[data-node-id="gain"].hs-selected')
    assert page.locator(".vue-flow__node.selected").count() == 2
    page.locator(".hs-canvas").press("Control+c")
    page.wait_for_selector(".q-notification:has-text('Copied 2 node(s)')")

    other = page.context.browser.new_page(viewport={"width": 1500, "height": 900})
    other.goto(studio.url + "/")
    other.wait_for_selector('[data-node-id="gain"]')  # the autosaved graph of the first tab
    other.locator(".hs-canvas").click(position={"x": 30, "y": 30})
    other.locator(".hs-canvas").press("Control+v")
    other.wait_for_selector('[data-node-id="tone_2"]')
    other.wait_for_selector('[data-node-id="gain_2"]')
    other.wait_for_selector('.vue-flow__edge[data-id="tone_2.audio->gain_2.audio"]', state="attached")
    other.click('[data-testid="export"]')
    doc = json.loads(other.locator('textarea[data-testid="export-json"]').input_value())
    pasted = {n["id"]: n["params"] for n in doc["nodes"]}
    assert pasted["tone_2"] == {"frequency": 523.0} and pasted["gain_2"] == {"gain_db": -4.0}
    other.close()
    assert page_errors == []


def test_node_context_menu_where_it_was_right_clicked(start_studio, browser_page):
    page, page_errors = browser_page
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    _import(page, {"format": "haysay.pipeline/1", "nodes": [
        {"id": "tone", "type": "gen.tone", "params": {}}, {"id": "gain", "type": "audio.gain", "params": {"gain_db": -2.0}}],
        "edges": [{"from": "tone.audio", "to": "gain.audio"}]})
    page.wait_for_timeout(700)
    x, y = _center(page, '[data-node-id="gain"] .hs-head')
    page.mouse.click(x, y, button="right")
    menu = page.locator('[data-testid="node-menu"]')
    menu.wait_for()
    box = menu.bounding_box()
    assert abs(box["x"] - x) < 5 and abs(box["y"] - y) < 5  # at the pointer
    page.click('[data-menu="duplicate"]')
    page.wait_for_selector('[data-node-id="gain_2"]')
    menu.wait_for(state="hidden")
    page.wait_for_timeout(300)
    x, y = _center(page, '[data-node-id="tone"] .hs-head')
    page.mouse.click(x, y, button="right")
    page.click('[data-menu="delete"]')
    page.wait_for_selector('[data-node-id="tone"]', state="detached")
    assert page.locator('[data-node-id="gain_2"]').count() == 1 and page.locator(".vue-flow__edge").count() == 0
    assert page_errors == []


def _menu(page, node: str, item: str) -> str:
    """Right-click `node`'s title, press the menu entry `item`; the entry's label."""
    x, y = _center(page, f'[data-node-id="{node}"] .hs-head')
    page.mouse.click(x, y, button="right")
    entry = page.locator(f'[data-testid="node-menu"] [data-menu="{item}"]')
    entry.wait_for()
    label = entry.inner_text().splitlines()[-1]  # after the icon's name
    entry.click()
    page.locator('[data-testid="node-menu"]').wait_for(state="hidden")
    page.wait_for_timeout(300)
    return label


def _exported(page) -> dict:
    page.click('[data-testid="export"]')
    doc = json.loads(page.locator('textarea[data-testid="export-json"]').input_value())
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    return doc


def test_context_menu_modes_groups_and_wires(start_studio, browser_page):
    page, page_errors = browser_page
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    _import(page, {"format": "haysay.pipeline/1", "nodes": [
        {"id": "tone", "type": "gen.tone", "params": {}, "position": {"x": 0, "y": 0}},
        {"id": "gain", "type": "audio.gain", "params": {}, "position": {"x": 320, "y": 0}},
        {"id": "fade", "type": "audio.fade", "params": {}, "position": {"x": 640, "y": 0}}],
        "edges": [{"from": "tone.audio", "to": "gain.audio", "via": [{"x": 260, "y": 220}]},
                  {"from": "gain.audio", "to": "fade.audio"}]})
    page.wait_for_timeout(700)

    assert "Bypass" in _menu(page, "gain", "bypass")
    page.wait_for_selector('[data-node-id="gain"][data-mode="bypass"]')
    assert _menu(page, "gain", "bypass").startswith("Unbypass")  # the same entry turns it off
    page.wait_for_selector('[data-node-id="gain"][data-mode=""]')
    _menu(page, "fade", "mute")
    page.wait_for_selector('[data-node-id="fade"][data-mode="mute"]')

    page.click('[data-node-id="tone"] .hs-head')
    page.click('[data-node-id="gain"] .hs-head', modifiers=["Control"])
    page.wait_for_selector('[data-node-id="gain"].hs-selected')
    assert "2 nodes" in _menu(page, "gain", "group")
    page.wait_for_selector('[data-group-id="group_1"]')
    assert _menu(page, "tone", "ungroup").startswith("Ungroup")
    page.wait_for_selector('[data-group-id="group_1"]', state="detached")

    _menu(page, "tone", "straighten")  # the rerouted wire tone -> gain runs straight again
    doc = _exported(page)
    assert [e.get("via") for e in doc["edges"]] == [None, None]
    assert {n["id"]: n.get("mode") for n in doc["nodes"]} == {"tone": None, "gain": None, "fade": "mute"}
    assert "groups" not in doc
    page.click('[data-testid="undo"]')  # one step: the wire is bent again
    page.wait_for_timeout(500)
    assert _exported(page)["edges"][0]["via"] == [{"x": 260.0, "y": 220.0}]
    assert page_errors == []
