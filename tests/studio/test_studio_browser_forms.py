"""Forms, uploads and the canvas' readability in a real browser."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile

from .conftest import CHROMIUM
from .test_studio_browser import _import, _select, _set_field, _shot, browser_page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs /usr/bin/chromium")]


def test_number_text_hints_labels_player_and_toasts(start_studio, browser_page):
    page, page_errors = browser_page
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    _import(page, {"format": "haysay.pipeline/1", "name": "forms",
                   "nodes": [{"id": "tone", "type": "gen.tone", "params": {"duration": 0.5}},
                             {"id": "loud", "type": "audio.loudness_normalize", "params": {"target_lufs": -20.0}}],
                   "edges": [{"from": "tone.audio", "to": "loud.audio"}]})
    _select(page, "loud")
    box = page.locator('input[data-field="target_lufs"]')
    box.fill("abc")
    box.press("Tab")
    err = page.locator("label.q-field--error")
    err.wait_for()
    assert "'abc' is not a number" in err.inner_text()
    assert box.input_value() == "abc"  # kept as typed, not blanked
    _set_field(page, "target_lufs", -18)
    page.wait_for_selector("label.q-field--error", state="detached")

    # labels: written titles or readable names, never pydantic's "Target Lufs"
    form = page.locator('[data-testid="params-form"]')
    text = form.inner_text()
    assert "Target loudness" in text and "Target Lufs" not in text

    # hints flow under their own field: no hint box runs into the next field
    fields = form.locator(".hs-field").all()
    assert len(fields) >= 2
    boxes = [f.bounding_box() for f in fields]
    for upper, lower in zip(boxes, boxes[1:]):
        assert upper["y"] + upper["height"] <= lower["y"] + 0.5, (upper, lower)

    # the run's toast sits at the bottom, clear of the toolbar; the player is on screen unscrolled
    page.click('[data-testid="run"]')
    page.wait_for_selector('[data-node-id="loud"][data-status="done"]', timeout=60_000)
    toast = page.locator(".q-notification:has-text('Run succeeded')")
    toast.wait_for()
    header = page.locator(".q-header").bounding_box()
    assert toast.bounding_box()["y"] > header["y"] + header["height"]
    page.click('[data-play="loud.audio"]')
    player = page.locator('[data-testid="player-loud-audio"]')
    player.wait_for()
    # on screen without scrolling (polled: the panel redraws its players once the run's result lands)
    page.wait_for_function("() => { const p = document.querySelector('[data-testid=\"player-loud-audio\"]');"
                           " if (!p) return false; const r = p.getBoundingClientRect();"
                           " return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight; }")
    _shot(page, "forms-1-text-error-hints-player")
    assert page_errors == []


def test_auto_layout_and_fit_keep_cards_readable(start_studio, browser_page):
    page, page_errors = browser_page
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    nodes = [{"id": "tone", "type": "gen.tone", "params": {}}]
    edges = []
    for i in range(14):  # a long chain: fit alone would shrink it to a sliver
        nodes.append({"id": f"g{i}", "type": "audio.gain", "params": {}})
        edges.append({"from": f"{'tone' if i == 0 else f'g{i - 1}'}.audio", "to": f"g{i}.audio"})
    _import(page, {"format": "haysay.pipeline/1", "nodes": nodes, "edges": edges})
    page.click('[data-testid="layout"]')
    page.wait_for_timeout(800)
    page.click('[data-testid="fit"]')
    page.wait_for_timeout(800)
    size = page.evaluate("() => { const t = document.querySelector('[data-node-id=\"g7\"] .hs-title');"
                         " return parseFloat(getComputedStyle(t).fontSize) * t.getBoundingClientRect().height"
                         " / t.offsetHeight; }")
    assert size >= 9.0  # 13 px titles at the 0.75 floor of fit
    assert page_errors == []


def test_upload_problems_are_told_without_a_tick_or_a_server_path(start_studio, browser_page, tmp_path, haysay_home):
    page, page_errors = browser_page
    studio = start_studio(env={"HAYSAY_STUDIO_MAX_UPLOAD_MB": "0.5"})
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    page.click('[data-testid="tab-inputs"]')
    uploader = page.locator('[data-testid="upload"] input[type=file]')

    fake = tmp_path / "notes.wav"
    fake.write_bytes(b"these are my notes, not audio\n" * 40)
    uploader.set_input_files(str(fake))
    error = page.locator('[data-testid="upload-error"]')
    error.wait_for()
    message = error.inner_text()
    assert "'notes.wav' is not readable audio" in message
    assert str(haysay_home) not in message and "/" not in message  # no server path
    assert page.locator(".q-uploader__file--uploaded").count() == 0  # no ✓ beside a refused file
    assert page.locator('[data-testid="upload"] .q-uploader__file').count() == 0

    big = tmp_path / "long.wav"
    soundfile.write(big, np.zeros(48000 * 4, np.float32), 48000, subtype="FLOAT")  # 0.73 MiB > 0.5 MiB
    uploader.set_input_files(str(big))
    page.wait_for_selector('[data-testid="upload-error"]:has-text("0.5 MiB limit")')
    assert not list((haysay_home / "uploads").glob("*.wav")) if (haysay_home / "uploads").exists() else True
    _shot(page, "forms-2-upload-refused")
    assert page_errors == []
