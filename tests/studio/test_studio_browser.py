"""The studio in a real browser (Debian chromium + playwright): build, validate, run, listen, compare, export."""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from haysay.graph_engine import Engine, Settings, parse_pipeline

from .conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs /usr/bin/chromium")]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "studio"
TIMEOUT_MS = 30_000


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page, errors
        browser.close()


def _center(page, selector):
    box = page.locator(selector).bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def _drag_connect(page, source, source_port, target, target_port):
    sx, sy = _center(page, f'[data-node-id="{source}"] .hs-port-out[data-port="{source_port}"] .vue-flow__handle')
    tx, ty = _center(page, f'[data-node-id="{target}"] .hs-port-in[data-port="{target_port}"] .vue-flow__handle')
    page.mouse.move(sx, sy)
    page.mouse.down()
    page.mouse.move((sx + tx) / 2, (sy + ty) / 2, steps=6)
    page.mouse.move(tx, ty, steps=6)
    page.mouse.up()


def _select(page, node_id):
    page.click(f'[data-node-id="{node_id}"] .hs-head')
    page.wait_for_selector(f'[data-node-id="{node_id}"].hs-selected')


def _set_field(page, field, value):
    box = page.locator(f'input[data-field="{field}"]')
    box.fill(str(value))
    box.press("Tab")


def _import(page, doc: dict) -> None:
    """Load a pipeline through the import dialog and wait until every node is on the canvas."""
    page.click('[data-testid="import"]')
    page.locator('textarea[data-testid="import-json"]').fill(json.dumps(doc))
    page.click('[data-testid="import-load"]')
    for n in doc["nodes"]:
        page.wait_for_selector(f'[data-node-id="{n["id"]}"]')


def _shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _wav(page, url):
    r = page.request.get(url)
    assert r.status == 200 and r.headers["content-type"] == "audio/wav"
    body = r.body()
    assert body[:4] == b"RIFF" and body[8:12] == b"WAVE"
    data, rate = soundfile.read(io.BytesIO(body), dtype="float32", always_2d=True)
    return data.T, rate


def test_build_validate_run_listen_compare_export(start_studio, browser_page, haysay_home):
    page, page_errors = browser_page
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")

    # build tone -> gain by UI actions
    page.click('[data-node-type="gen.tone"]')
    page.wait_for_selector('[data-node-id="tone"]')
    page.click('[data-node-type="audio.gain"]')
    page.wait_for_selector('[data-node-id="gain"]')
    assert page.locator('[data-node-id="gain"].hs-invalid').count() == 1  # its input is not fed yet
    _drag_connect(page, "tone", "audio", "gain", "audio")
    page.wait_for_selector('.vue-flow__edge[data-id="tone.audio->gain.audio"]', state="attached")
    page.wait_for_selector('[data-node-id="gain"]:not(.hs-invalid)')

    # a text output cannot feed an audio input: refused with the reason
    page.click('[data-node-type="text.value"]')
    page.wait_for_selector('[data-node-id="value"]')
    page.click(".vue-flow__pane", position={"x": 20, "y": 20})
    page.locator('input[data-testid="palette-search"]').fill("gain")  # palette search filters
    page.wait_for_selector('[data-node-type="gen.tone"]', state="hidden")  # filtered in the browser
    page.locator('input[data-testid="palette-search"]').fill("")
    # every node type, grouped by category: the same entries (and component) as the notebook canvas's palette
    # (the registry of a fresh process, as the studio's: tests here register extra node types in this one)
    entries = json.loads(subprocess.run(
        [sys.executable, "-c", "import json; from haysay.graph_engine.contract import default_registry; "
         "from haysay.studio.palette import palette_entries; print(json.dumps(palette_entries(default_registry())))"],
        capture_output=True, text=True, check=True, timeout=120).stdout)
    categories = list(dict.fromkeys(e["category"] for e in entries))
    grouped = [e["type"] for c in categories for e in entries if e["category"] == c]
    assert page.locator(".hs-palette-item").evaluate_all("els => els.map((e) => e.dataset.nodeType)") == grouped
    # dragged onto the canvas, a type lands where it was dropped
    before = page.locator(".vue-flow__node").count()
    page.locator('.hs-palette-item[data-node-type="audio.fade"]').drag_to(
        page.locator(".vue-flow__pane"), target_position={"x": 200, "y": 420})
    page.wait_for_function(f"document.querySelectorAll('.vue-flow__node').length === {before + 1}", timeout=15000)
    page.click('[data-testid="undo"]')
    page.wait_for_function(f"document.querySelectorAll('.vue-flow__node').length === {before}", timeout=15000)
    page.click('[data-testid="layout"]')
    page.wait_for_timeout(500)
    _drag_connect(page, "value", "text", "gain", "audio")
    page.wait_for_selector(".q-notification:has-text('Connection refused')")
    assert "type mismatch" in page.locator(".q-notification").last.inner_text()
    _select(page, "value")
    page.locator(".hs-canvas").press("Delete")
    page.wait_for_selector('[data-node-id="value"]', state="detached")

    # a bad param shows on the field and on the node
    _select(page, "gain")
    _set_field(page, "gain_db", 100)
    err = page.locator("label.q-field--error")
    err.wait_for()
    assert "must be between -96.0 and 48.0 dB" in err.inner_text()
    page.wait_for_selector('[data-node-id="gain"].hs-invalid')
    assert "gain_db" in page.locator('[data-node-id="gain"] .hs-errors').inner_text()
    page.wait_for_timeout(400)  # let the hint -> error transition finish for the screenshot
    _shot(page, "1-field-error")
    _set_field(page, "gain_db", -6)
    page.wait_for_selector('[data-node-id="gain"]:not(.hs-invalid)')
    assert page.locator("label.q-field--error").count() == 0
    _select(page, "tone")
    _set_field(page, "duration", 0.6)
    page.wait_for_timeout(300)

    # run: node states go live and land on done
    page.click('[data-testid="run"]')
    page.wait_for_selector('[data-node-id="tone"][data-status="done"]', timeout=90_000)
    page.wait_for_selector('[data-node-id="gain"][data-status="done"]', timeout=90_000)
    page.wait_for_selector('[data-testid="run-status"]:has-text("succeeded")')  # the result lands a poll after the badges
    _shot(page, "2-run-done")

    # play a stage: the player's source serves the stage output as audio
    page.click('[data-play="gain.audio"]')
    player = page.locator('[data-testid="player-gain-audio"]')
    player.wait_for()
    src = player.get_attribute("data-src")
    key = re.fullmatch(r"/artifact/([0-9a-f]{64})/audio\.wav", src).group(1)
    page.wait_for_function("() => { const a = document.querySelector('[data-testid=\"player-gain-audio\"] audio');"
                           " return a && a.duration > 0.5; }")
    gain_samples, rate = _wav(page, studio.url + src)
    assert rate == 48000 and gain_samples.shape[1] == int(0.6 * 48000)
    peak_db = 20 * np.log10(np.max(np.abs(gain_samples)))
    assert peak_db == pytest.approx(-18.0, abs=0.05)  # tone at -12 dBFS, then -6 dB

    # compare two stages: gain (A) against tone (B)
    page.click('[data-testid="compare-a-gain"]')
    _select(page, "tone")
    page.click('[data-testid="compare-b-tone"]')
    page.click('[data-testid="tab-compare"]')
    page.wait_for_selector('[data-testid="compare-player-A"]')
    page.wait_for_selector('[data-testid="compare-player-B"]')
    peak_row = page.locator('[data-figure="peak_dbfs"]').inner_text()
    assert "-18.00 dBFS" in peak_row and "-12.00 dBFS" in peak_row and "+6.00 dBFS" in peak_row
    page.wait_for_timeout(1500)  # let the spectrograms draw for the screenshot
    _shot(page, "3-compare")

    # history lists the run
    page.click('[data-testid="tab-history"]')
    page.wait_for_selector('[data-testid="history"] [data-run-id]')

    # export JSON and run it headless: same cache keys, same samples
    page.click('[data-testid="export"]')
    exported = page.locator('textarea[data-testid="export-json"]').input_value()
    doc = parse_pipeline(exported)
    assert {n.id for n in doc.nodes} == {"tone", "gain"} and all(n.position for n in doc.nodes)
    assert json.loads(exported)["nodes"][1]["params"] == {"gain_db": -6.0} or \
        json.loads(exported)["nodes"][0]["params"] == {"gain_db": -6.0}
    with Engine(settings=Settings.from_env(home=haysay_home), processes=False) as eng:
        result = eng.run(doc)
        assert result.ok and result.stages["gain"].cache_key == key
        assert sorted(result.cached) == ["gain", "tone"]
        headless = eng.store.open(key)["audio"].numpy()
    np.testing.assert_allclose(gain_samples, headless, atol=1.0 / 32767 + 1e-6)
    page.keyboard.press("Escape")
    page.click('[data-testid="tab-node"]')
    _select(page, "gain")
    download, _ = _wav(page, studio.url + page.locator('[data-testid="download-gain"]').get_attribute("href"))
    np.testing.assert_array_equal(download, headless)  # the download is float32, bit-exact
    assert page_errors == []


PIPELINE = {
    "format": "haysay.pipeline/1", "name": "two tones",
    "nodes": [
        {"id": "low", "type": "gen.tone", "params": {"frequency": 220.0, "duration": 0.5}},
        {"id": "high", "type": "gen.tone", "params": {"frequency": 330.0, "duration": 0.5}},
        {"id": "quiet", "type": "audio.gain", "params": {"gain_db": -6.0}},
    ],
    "edges": [{"from": "high.audio", "to": "quiet.audio"}],
    "inputs": {"pitch": {"bind": "low.frequency", "default": 220.0}},
    "outputs": {"high": "quiet.audio"},
}


def test_import_undo_history_reopen(start_studio, browser_page):
    page, page_errors = browser_page
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    _import(page, PIPELINE)
    # auto-layout of an imported pipeline without positions: depth 0 left of depth 1
    high_x = page.locator('[data-node-id="high"]').bounding_box()["x"]
    assert page.locator('[data-node-id="quiet"]').bounding_box()["x"] > high_x + 100

    # delete, then undo with the keyboard
    _select(page, "low")
    page.locator(".hs-canvas").press("Delete")
    page.wait_for_selector('[data-node-id="low"]', state="detached")
    page.locator(".hs-canvas").press("Control+z")
    page.wait_for_selector('[data-node-id="low"]')

    page.click('[data-testid="run"]')
    page.wait_for_selector('[data-node-id="quiet"][data-status="done"]', timeout=90_000)

    # a fresh page opens the run from history: pipeline back on the canvas, stages playable
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    page.click('[data-testid="tab-history"]')
    row = page.locator('[data-testid="history"] [data-run-id]').first
    assert "two tones" in row.inner_text() and "succeeded" in row.inner_text()
    row.get_by_role("button", name="Open").click()
    page.wait_for_selector('[data-node-id="quiet"][data-status="done"]')
    page.click('[data-play="quiet.audio"]')
    src = page.locator('[data-testid="player-quiet-audio"]').get_attribute("data-src")
    samples, _ = _wav(page, studio.url + src)
    assert 20 * np.log10(np.max(np.abs(samples))) == pytest.approx(-18.0, abs=0.05)
    page.wait_for_timeout(500)
    _shot(page, "4-history-reopened")
    assert page_errors == []


def test_login_in_server_mode_then_editor_works(start_studio, browser_page):
    page, _ = browser_page
    studio = start_studio("--password", "a long enough secret")
    page.goto(studio.url + "/")
    page.wait_for_url("**/login?next=/")
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    assert "Wrong password" in page.content()
    page.fill("#password", "a long enough secret")
    page.click("button[type=submit]")
    page.wait_for_selector(".vue-flow")  # the page and its websocket both pass the session check
    page.click('[data-node-type="gen.tone"]')
    page.wait_for_selector('[data-node-id="tone"]')
    _shot(page, "5-after-login")
