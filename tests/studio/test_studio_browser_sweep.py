"""The studio's sweep dialog in a real browser: a tone pitch-shifted by three values, scored by the pitch
error against the unshifted tone, ranked with a player per point; "Apply best" edits the document."""
from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
import soundfile

from .conftest import CHROMIUM
from .test_studio_browser import _import, _select, _shot, browser_page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs /usr/bin/chromium")]

DOC = {"format": "haysay.pipeline/1", "name": "sweep me",
       "nodes": [{"id": "tone", "type": "gen.tone", "params": {"frequency": 220.0, "duration": 1.0}},
                 {"id": "shift", "type": "audio.pitch_shift", "params": {"semitones": 5.0, "method": "phase_vocoder"}},
                 {"id": "err", "type": "analysis.pitch_error"}],
       "edges": [{"from": "tone.audio", "to": "shift.audio"}, {"from": "shift.audio", "to": "err.audio"},
                 {"from": "tone.audio", "to": "err.reference"}]}


def _open(start_studio, browser_page, doc: dict):
    """A fresh studio with `doc` on its canvas."""
    page, page_errors = browser_page
    page.set_default_timeout(90_000)  # a loaded machine
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    _import(page, doc)
    return page, page_errors, studio


def _pick(page, select_testid: str, text: str) -> None:
    page.click(f'[data-testid="{select_testid}"]')
    page.locator(".q-menu .q-item", has_text=text).first.click()
    page.wait_for_selector(".q-menu", state="detached")


def _dominant_hz(page, url: str) -> float:
    r = page.request.get(url)
    assert r.status == 200 and r.headers["content-type"] == "audio/wav"
    x, rate = soundfile.read(io.BytesIO(r.body()), dtype="float32")
    x = x.mean(axis=1) if x.ndim > 1 else x
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[spectrum.argmax()])


def _exported(page) -> dict:
    page.click('[data-testid="export"]')
    text = page.locator('textarea[data-testid="export-json"]').input_value()
    page.keyboard.press("Escape")
    return json.loads(text)


def test_sweep_ranks_three_shifts_plays_them_and_applies_the_best(start_studio, browser_page):
    page, page_errors, studio = _open(start_studio, browser_page, DOC)

    page.click('[data-testid="sweep"]')
    page.wait_for_selector('[data-testid="sweep-run"]')
    _pick(page, "sweep-param-0", "shift.semitones")
    page.locator('[data-testid="sweep-values-0"] input, input[data-testid="sweep-values-0"]').first.fill("3, 0, -2")
    # the score node is the graph's one analysis node; its figure is named
    assert "err" in page.locator('[data-testid="sweep-score-node"]').inner_text()
    page.locator('[data-testid="sweep-metric"] input, input[data-testid="sweep-metric"]').first.fill("rmse_cents")
    page.click('[data-testid="sweep-run"]')
    page.wait_for_selector('[data-testid="sweep-table"]', timeout=180_000)
    assert page.locator('[data-testid="sweep-status"]').inner_text().startswith("3 / 3 points")

    rows = page.locator('[data-testid="sweep-table"] tr[data-rank]')
    assert rows.count() == 3
    settings = [float(rows.nth(i).locator('td[data-param="shift.semitones"]').inner_text()) for i in range(3)]
    scores = [float(rows.nth(i).locator("td[data-score]").inner_text()) for i in range(3)]
    assert settings[0] == 0.0 and sorted(settings) == [-2.0, 0.0, 3.0]
    assert scores == sorted(scores) and scores[0] < 20.0 < scores[1]  # cents: unshifted is all but exact
    _shot(page, "sweep-1-ranked")

    # each row's player plays its own point: the tone moved by that row's semitones
    for i, st in enumerate(settings, 1):
        player = page.locator(f'[data-testid="sweep-player-{i}"]')
        hz = _dominant_hz(page, studio.url + player.get_attribute("data-src"))
        assert abs(12 * np.log2(hz / 220.0) - st) < 0.3, (st, hz)

    page.click('[data-testid="sweep-apply"]')
    page.click('[data-testid="sweep-close"]')
    doc = _exported(page)
    params = {n["id"]: n.get("params", {}) for n in doc["nodes"]}
    assert params["shift"]["semitones"] == 0.0 and params["shift"]["method"] == "phase_vocoder"
    assert page_errors == []


def test_sweep_refuses_a_bad_value_at_its_param(start_studio, browser_page):
    page, page_errors, studio = _open(start_studio, browser_page, DOC)
    page.click('[data-testid="sweep"]')
    _pick(page, "sweep-param-0", "shift.semitones")
    page.locator('input[data-testid="sweep-values-0"], [data-testid="sweep-values-0"] input').first.fill("0, 99")
    page.locator('input[data-testid="sweep-metric"], [data-testid="sweep-metric"] input').first.fill("rmse_cents")
    page.click('[data-testid="sweep-run"]')
    problem = page.locator('[data-testid="sweep-errors"]')
    problem.get_by_text("shift.semitones").wait_for(timeout=60_000)
    assert "99" in problem.inner_text() and "Traceback" not in problem.inner_text()
    assert page.locator('[data-testid="sweep-table"]').count() == 0
    assert page_errors == []


def test_compare_view_shows_the_graphs_figures_and_measures_dnsmos(start_studio, browser_page):
    from haysay.graph_engine.values import Audio
    from haysay.nodes.analysis.measure import mono_at
    from haysay.nodes.analysis.quality import RATE, dnsmos

    doc = {"format": "haysay.pipeline/1", "name": "compare me",
           "nodes": [{"id": "tone", "type": "gen.tone", "params": {"frequency": 220.0, "duration": 1.0}},
                     {"id": "up", "type": "audio.pitch_shift", "params": {"semitones": 2.0, "method": "phase_vocoder"}},
                     {"id": "err", "type": "analysis.pitch_error"}],
           "edges": [{"from": "tone.audio", "to": "up.audio"}, {"from": "up.audio", "to": "err.audio"},
                     {"from": "tone.audio", "to": "err.reference"}]}
    page, page_errors, studio = _open(start_studio, browser_page, doc)
    page.click('[data-testid="run"]')
    page.wait_for_selector('[data-testid="run-status"]:has-text("succeeded")', timeout=180_000)
    _select(page, "up")
    page.click('[data-testid="compare-a-up"]')
    _select(page, "tone")
    page.click('[data-testid="compare-b-tone"]')
    page.click('[data-testid="tab-compare"]')

    # A is what err judges: its figures sit in A's column, B (the reference) has none
    row = page.locator('[data-testid="analysis-figures"] tr[data-figure="err.shift_cents"]')
    assert float(row.locator('td[data-col="A"]').inner_text()) == pytest.approx(200.0, abs=10.0)
    assert row.locator('td[data-col="B"]').inner_text() == "–"

    page.click('[data-testid="compare-measure"]')
    ovrl = page.locator('[data-testid="analysis-figures"] tr[data-figure="quality.ovrl"]')
    ovrl.wait_for(timeout=180_000)
    shown = {slot: float(ovrl.locator(f'td[data-col="{slot}"]').inner_text()) for slot in ("A", "B")}
    # the same figures DNSMOS gives the served stage audio
    for slot in ("A", "B"):
        src = page.locator(f'[data-testid="compare-player-{slot}"]').get_attribute("data-src")
        r = page.request.get(studio.url + src)
        x, rate = soundfile.read(io.BytesIO(r.body()), dtype="float32", always_2d=True)
        want = dnsmos(mono_at(Audio(x.T.copy(), rate), RATE))["ovrl"]
        assert shown[slot] == pytest.approx(want, abs=0.002), slot
    assert page.locator('[data-testid="compare-measure"]').is_disabled()  # kept: nothing left to measure
    _shot(page, "sweep-2-compare-figures")
    assert page_errors == []
