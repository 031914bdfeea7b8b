"""Several workflows open as tabs: each keeps its graph and undo, all come back on reload, copy in
one and paste in another, and closing a changed one asks first."""
from __future__ import annotations

import json
import shutil

import pytest

from .conftest import CHROMIUM
from .test_studio_browser import _import, browser_page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs /usr/bin/chromium")]

FIRST = {"format": "haysay.pipeline/1", "name": "first",
         "nodes": [{"id": "tone", "type": "gen.tone", "params": {"frequency": 523.0}, "position": {"x": 0, "y": 0}},
                   {"id": "gain", "type": "audio.gain", "params": {"gain_db": -4.0}, "position": {"x": 300, "y": 0}}],
         "edges": [{"from": "tone.audio", "to": "gain.audio"}]}
SECOND = {"format": "haysay.pipeline/1", "name": "second",
          "nodes": [{"id": "hum", "type": "gen.tone", "params": {"frequency": 60.0}, "position": {"x": 0, "y": 0}},
                    {"id": "rs", "type": "audio.resample", "params": {"sample_rate": 8000},
                     "position": {"x": 300, "y": 0}}],
          "edges": [{"from": "hum.audio", "to": "rs.audio"}]}


def _tabs_saved(page, until: str) -> dict:
    """The tabs the studio autosaved to the browser tab, once `until` (a JS test on them, `s`) holds."""
    page.wait_for_function(f"() => {{ const t = sessionStorage.getItem('haysay.workflow.tabs'); "
                           f"if (!t) return false; const s = JSON.parse(t); return {until}; }}")
    return json.loads(page.evaluate("sessionStorage.getItem('haysay.workflow.tabs')"))


def _shows(page, present: list[str], absent: list[str]) -> None:
    for nid in present:
        page.wait_for_selector(f'[data-node-id="{nid}"]')
    for nid in absent:
        page.wait_for_selector(f'[data-node-id="{nid}"]', state="detached")


def _export(page) -> dict:
    page.click('[data-testid="export"]')
    doc = json.loads(page.locator('textarea[data-testid="export-json"]').input_value())
    page.keyboard.press("Escape")
    page.wait_for_selector('textarea[data-testid="export-json"]', state="detached")
    return doc


def test_tabs_keep_graphs_and_undo_and_come_back_on_reload(start_studio, browser_page, haysay_home):
    page, page_errors = browser_page
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    _import(page, FIRST)
    page.click('[data-testid="wf-new"]')
    page.wait_for_selector('[data-testid="wf-tab-1"]')
    _shows(page, [], ["tone", "gain"])  # a new tab starts empty
    _import(page, SECOND)
    page.wait_for_function("() => document.querySelector('[data-testid=\"wf-tab-1\"]').textContent.includes('second')")

    # undo belongs to its tab: delete in the first, visit the second, undo back in the first
    page.click('[data-testid="wf-tab-0"]')
    _shows(page, ["tone", "gain"], ["hum", "rs"])
    page.click('[data-node-id="gain"] .hs-head')
    page.wait_for_selector('[data-node-id="gain"].hs-selected')
    page.locator(".hs-canvas").press("Delete")
    _shows(page, ["tone"], ["gain"])
    page.click('[data-testid="wf-tab-1"]')
    _shows(page, ["hum", "rs"], ["tone"])
    page.click('[data-testid="wf-tab-0"]')
    _shows(page, ["tone"], ["gain", "hum"])
    page.click('[data-testid="undo"]')
    _shows(page, ["tone", "gain"], [])

    saved = _tabs_saved(page, "s.tabs.length === 2 && s.active === 0 && s.tabs[0].doc.nodes.length === 2")
    assert [t["doc"]["name"] for t in saved["tabs"]] == ["first", "second"]
    on_disk = haysay_home / "studio" / "workspaces" / "default.tabs.json"
    assert [[n["id"] for n in t["doc"]["nodes"]] for t in json.loads(on_disk.read_text())["tabs"]] == \
        [["tone", "gain"], ["hum", "rs"]]

    page.reload()
    page.wait_for_selector('[data-testid="wf-tab-1"]')
    _shows(page, ["tone", "gain"], ["hum"])
    assert "first" in page.locator('[data-testid="wf-tab-0"]').inner_text()
    page.click('[data-testid="wf-tab-1"]')
    _shows(page, ["hum", "rs"], ["tone"])
    assert {n["id"]: n["params"] for n in _export(page)["nodes"]} == {"hum": {"frequency": 60.0},
                                                                      "rs": {"sample_rate": 8000}}

    # a fresh browser (no sessionStorage) gets the same tabs from the server's copy
    other = page.context.browser.new_page(viewport={"width": 1500, "height": 900})
    other.goto(studio.url + "/")
    other.wait_for_selector('[data-testid="wf-tab-1"]')
    assert "second" in other.locator('[data-testid="wf-tab-1"]').inner_text()
    other.close()
    assert page_errors == []


def test_copy_across_tabs_rename_and_close_asks_when_changed(start_studio, browser_page):
    page, page_errors = browser_page
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    _import(page, FIRST)
    page.click('[data-testid="wf-new"]')
    page.wait_for_selector('[data-testid="wf-tab-1"]')
    _import(page, SECOND)

    page.click('[data-testid="wf-tab-0"]')
    _shows(page, ["tone", "gain"], ["hum"])
    page.click('[data-node-id="tone"] .hs-head')
    page.click('[data-node-id="gain"] .hs-head', modifiers=["Control"])
    page.wait_for_selector('[data-node-id="gain"].hs-selected')
    page.locator(".hs-canvas").press("Control+c")
    page.wait_for_selector(".q-notification:has-text('Copied 2 node(s)')")
    page.click('[data-testid="wf-tab-1"]')
    _shows(page, ["hum", "rs"], ["tone"])
    page.locator(".hs-canvas").click(position={"x": 30, "y": 30})
    page.locator(".hs-canvas").press("Control+v")
    _shows(page, ["tone", "gain", "hum", "rs"], [])
    page.wait_for_selector('.vue-flow__edge[data-id="tone.audio->gain.audio"]', state="attached")
    doc = _export(page)
    assert {n["id"]: n["params"] for n in doc["nodes"]} == {
        "hum": {"frequency": 60.0}, "rs": {"sample_rate": 8000}, "tone": {"frequency": 523.0}, "gain": {"gain_db": -4.0}}
    assert {(e["from"], e["to"]) for e in doc["edges"]} == {("hum.audio", "rs.audio"), ("tone.audio", "gain.audio")}

    page.click('[data-testid="wf-rename-1"]')
    page.locator('input[data-testid="wf-rename-input"]').fill("mixed")
    page.click('[data-testid="wf-rename-ok"]')
    page.wait_for_function("() => document.querySelector('[data-testid=\"wf-tab-1\"]').textContent.includes('mixed')")
    assert page.locator('input[data-testid="pipeline-name"]').input_value() == "mixed"

    # the pasted-into tab changed since its import: closing it asks, and Keep keeps it
    page.click('[data-testid="wf-close-1"]')
    page.wait_for_selector('[data-testid="wf-close-confirm"]')
    page.click('[data-testid="wf-close-cancel"]')
    page.wait_for_selector('[data-testid="wf-close-confirm"]', state="detached")
    assert page.locator('[data-testid^="wf-tab-"]').count() == 2
    page.click('[data-testid="wf-close-1"]')
    page.click('[data-testid="wf-close-ok"]')
    page.wait_for_selector('[data-testid="wf-tab-1"]', state="detached")
    _shows(page, ["tone", "gain"], ["hum"])  # back on the first tab
    # an unchanged tab closes without asking
    page.click('[data-testid="wf-new"]')
    page.wait_for_selector('[data-testid="wf-tab-1"]')
    page.click('[data-testid="wf-close-1"]')
    page.wait_for_selector('[data-testid="wf-tab-1"]', state="detached")
    assert page.locator('[data-testid="wf-close-confirm"]').count() == 0
    _tabs_saved(page, "s.tabs.length === 1 && s.tabs[0].doc.name === 'first'")
    assert page_errors == []


def test_each_tab_keeps_its_own_run_state(start_studio, browser_page):
    page, page_errors = browser_page
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    _import(page, FIRST)
    page.click('[data-testid="run"]')
    page.wait_for_selector('[data-node-id="gain"][data-status="done"]', timeout=60_000)
    status = page.locator('[data-testid="run-status"]')
    page.wait_for_function("() => document.querySelector('[data-testid=\"run-status\"]').textContent.includes('computed')")
    ran = status.inner_text()

    page.click('[data-testid="wf-new"]')
    page.wait_for_selector('[data-testid="wf-tab-1"]')
    _import(page, SECOND)
    page.wait_for_selector('[data-node-id="rs"]')
    assert status.inner_text() == ""  # the other tab's run is not this one's
    assert page.locator('[data-status="done"]').count() == 0

    page.click('[data-testid="wf-tab-0"]')
    page.wait_for_selector('[data-node-id="gain"]')
    assert status.inner_text() == ran
    page.wait_for_selector('[data-node-id="gain"][data-status="done"]')  # as it ran, not merely "in the store"
    assert page_errors == []
