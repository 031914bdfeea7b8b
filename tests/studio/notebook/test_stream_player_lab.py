"""The StreamPlayer in a real JupyterLab: blocks fed while a cell still runs reach the page and are
scheduled on Web Audio before the stream ends; a second view shown afterwards has every block too."""
import pytest

from .test_jupyterlab import open_notebook, run_cell, start_lab

pytestmark = pytest.mark.browser

CELLS = [
    "import time, numpy as np\n"
    "from haysay.studio.notebook import StreamPlayer\n"
    "from haysay.graph_engine.streaming import BlockEvent\n"
    "from haysay.graph_engine.values import Audio\n"
    "player = StreamPlayer('demo')\n"
    "player",
    # four 1 s blocks; the first, then a pause long enough to see it scheduled while the cell runs
    "rate = 16000; t = np.arange(rate) / rate\n"
    "for i in range(4):\n"
    "    tone = (0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t))[None].astype(np.float32)\n"
    "    player.feed(BlockEvent('demo', i, i * rate, Audio(tone, rate)))\n"
    "    time.sleep(6.0 if i == 0 else 0.3)\n"
    "player.done = True",
    "player",
]


@pytest.fixture()
def stream_lab(tmp_path):
    yield from start_lab(tmp_path, CELLS)


def test_blocks_play_while_the_cell_runs_and_every_view_has_them(stream_lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser, page = open_notebook(pw, stream_lab, ("--autoplay-policy=no-user-gesture-required",))
        run_cell(page, 0)
        page.wait_for_selector(".hs-stream-player[data-hs-audio='running']", timeout=60_000)
        run_cell(page, 1)
        page.wait_for_selector(".hs-stream-player[data-hs-scheduled='1']", timeout=30_000)
        early = page.evaluate("() => { const e = document.querySelector('.hs-stream-player');"
                              " return [e.dataset.hsBlocks, e.dataset.hsScheduled]; }")
        busy = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-InputArea-prompt").inner_text()
        page.wait_for_selector(".hs-stream-player[data-hs-scheduled='4']", timeout=30_000)
        page.wait_for_selector(".hs-stream-label:has-text('(done)')", timeout=30_000)
        first = page.evaluate("() => { const e = document.querySelector('.hs-stream-player');"
                              " return [e.dataset.hsBlocks, e.dataset.hsFrames]; }")
        run_cell(page, 2)  # the same player shown again, after the stream
        page.wait_for_function("() => { const e = document.querySelectorAll('.hs-stream-player')[1];"
                               " return e && e.dataset.hsScheduled === '4'; }", timeout=30_000)
        second = page.evaluate("() => { const e = document.querySelectorAll('.hs-stream-player')[1];"
                               " return [e.dataset.hsBlocks, e.dataset.hsFrames, e.dataset.hsScheduled]; }")
        browser.close()
    assert early == ["1", "1"] and "*" in busy  # the first block played while the cell was still running
    assert first == ["4", "64000"]
    assert second == ["4", "64000", "4"]
