"""Work is never lost (reload, the Models page, a new tab) and the save node plays what it wrote."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile

from .conftest import CHROMIUM, CHROMIUM_ARGS
from .test_studio_browser import _import, _select, _set_field, _shot, _wav, browser_page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs /usr/bin/chromium")]

PIPE = {"format": "haysay.pipeline/1", "name": "kept work",
        "nodes": [{"id": "tone", "type": "gen.tone", "params": {"frequency": 330.0, "duration": 0.5}},
                  {"id": "gain", "type": "audio.gain", "params": {"gain_db": -6.0}}],
        "edges": [{"from": "tone.audio", "to": "gain.audio"}]}


def _saved(page) -> None:
    """Until the server has confirmed the autosave (bounded by the page's default timeout)."""
    page.wait_for_function("() => window.haysayUnsaved === false && !!sessionStorage.getItem('haysay.workflow')")


def test_reload_models_page_and_new_tab_keep_the_canvas(start_studio, browser_page, haysay_home):
    page, page_errors = browser_page
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    _import(page, PIPE)
    _select(page, "gain")
    _set_field(page, "gain_db", -9.5)
    page.wait_for_timeout(400)
    _saved(page)
    assert json.loads(page.evaluate("sessionStorage.getItem('haysay.workflow')"))["nodes"][1]["params"] == {"gain_db": -9.5}

    page.reload()
    page.wait_for_selector('[data-node-id="tone"]')
    page.wait_for_selector('[data-node-id="gain"]')
    assert page.locator('.vue-flow__edge[data-id="tone.audio->gain.audio"]').count() == 1
    _select(page, "gain")
    assert page.locator('input[data-field="gain_db"]').input_value() == "-9.5"
    assert page.locator('[data-testid="pipeline-name"] input, input[data-testid="pipeline-name"]').first.input_value() == "kept work"

    page.click('[data-nav="models"]')
    page.wait_for_url("**/models")
    page.click('[data-nav="editor"]')
    page.wait_for_selector('[data-node-id="gain"]')

    # another tab has its own sessionStorage: the workspace's server-side autosave opens there
    saved = json.loads((haysay_home / "studio" / "workspaces" / "default.json").read_text())
    assert [n["id"] for n in saved["nodes"]] == ["tone", "gain"]
    other = page.context.browser.new_page(viewport={"width": 1500, "height": 900})
    other.goto(studio.url + "/")
    other.wait_for_selector('[data-node-id="gain"]', timeout=30_000)
    other.close()
    assert page_errors == []


def test_leaving_before_an_edit_is_saved_asks_first(start_studio, browser_page):
    page, _ = browser_page
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    page.click('[data-node-type="gen.tone"]')
    page.wait_for_selector('[data-node-id="tone"]')
    _saved(page)
    leave = ("() => { const e = new Event('beforeunload', {cancelable: true}); window.dispatchEvent(e);"
             " return e.defaultPrevented; }")
    assert page.evaluate(leave) is False  # saved: leaving asks nothing
    # an edit gesture marks the page unsaved until the server's autosave confirms it
    page.evaluate("window.haysayUnsaved = true")
    assert page.evaluate(leave) is True  # the browser asks before the tab goes
    _select(page, "tone")
    _set_field(page, "duration", 0.7)
    _saved(page)
    assert page.evaluate(leave) is False


def test_save_node_gets_a_badge_and_plays_the_file_it_wrote(start_studio, browser_page, tmp_path):
    page, page_errors = browser_page
    out = tmp_path / "out.wav"
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    _import(page, {"format": "haysay.pipeline/1", "name": "to disk",
                   "nodes": [{"id": "tone", "type": "gen.tone", "params": {"frequency": 440.0, "duration": 0.5}},
                             {"id": "save", "type": "audio.save", "params": {"path": str(out), "depth": "float"}}],
                   "edges": [{"from": "tone.audio", "to": "save.audio"}]})
    page.click('[data-testid="run"]')
    page.wait_for_selector('[data-node-id="save"][data-status="done"]', timeout=60_000)
    page.wait_for_selector('[data-testid="run-status"]:has-text("succeeded")')
    page.click('[data-play="save.audio"]')
    player = page.locator('[data-testid="player-save-audio"]')
    player.wait_for()
    # on screen without scrolling (polled: the panel redraws its players once the run's result lands)
    page.wait_for_function("() => { const p = document.querySelector('[data-testid=\"player-save-audio\"]');"
                           " if (!p) return false; const r = p.getBoundingClientRect();"
                           " return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight; }")
    played, rate = _wav(page, studio.url + player.get_attribute("data-src"))
    written, file_rate = soundfile.read(out, dtype="float32", always_2d=True)
    assert rate == file_rate == 48000 and played.shape == written.T.shape
    np.testing.assert_allclose(played, written.T, atol=1.0 / 32767 + 1e-6)  # the player's 16-bit copy of the file
    page.wait_for_timeout(400)
    _shot(page, "work-1-save-node-plays")
    # another run of the same graph: the badge stays, the player keeps playing the newest file
    page.click('[data-testid="run"]')
    page.wait_for_selector('[data-testid="run-status"]:has-text("succeeded")')
    page.wait_for_selector('[data-node-id="save"][data-status="done"]')
    assert page_errors == []
