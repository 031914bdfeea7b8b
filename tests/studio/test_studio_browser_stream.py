"""The studio plays a streaming stage (vc.rvc with stream on) while it runs: the page receives and schedules
its first block as an AudioBuffer before the stage is done, and the blocks it scheduled are the stored
artifact's audio, sample for sample."""
from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
import soundfile
import torch

from haysay.nodes.vc.content.checkpoint import save_transformers_folder
from haysay.nodes.vc.content.hubert import ContentEncoder, HubertConfig
from haysay.nodes.vc.rvc.checkpoint import save_rvc_checkpoint
from haysay.nodes.vc.rvc.models import RVCConfig, rvc_synthesizer

from .conftest import CHROMIUM
from .test_studio_browser import _import, _select, _shot, browser_page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs /usr/bin/chromium")]

TINY_CONV = ((32, 10, 5),) + ((32, 3, 2),) * 4 + ((32, 2, 2),) * 2
# RVC v1's positional config, small but for a 128-channel decoder: a few seconds' work for ~13 s of speech
SMALL_RVC = [1025, 32, 16, 16, 32, 2, 2, 3, 0, "1", [3, 5], [[1, 3], [1, 3]], [10, 10, 2, 2], 128, [16, 16, 4, 4],
             2, 8, 40000]

# the page's own record of the stream (stream_player.js): blocks scheduled, and each one's stage status
FIRST = """() => {
  const s = Object.values(window.haysayStreams || {})[0];
  if (!s || s.scheduled < 1) return false;
  const node = document.querySelector('[data-node-id="vc"]');
  return {stage: s.stages[0], canvas: node ? node.dataset.status : null, scheduled: s.scheduled,
          state: s.ctx.state};
}"""
ENDED = "() => { const s = Object.values(window.haysayStreams || {})[0]; return !!s && s.ended; }"
SAMPLES = """() => {
  const s = Object.values(window.haysayStreams || {})[0];
  return {rate: s.buffers[0].sampleRate, channels: s.buffers[0].numberOfChannels, gaps: s.gaps,
          stages: s.stages, blocks: s.buffers.map((b) => Array.from(b.getChannelData(0)))};
}"""


@pytest.fixture()
def files(tmp_path):
    from haysay.nodes.tts.espeak import synthesize_espeak

    torch.manual_seed(1)
    enc = ContentEncoder(HubertConfig(embed_dim=32, num_layers=12, num_heads=4, ff_dim=64, conv_layers=TINY_CONV,
                                      pos_conv_kernel=16, pos_conv_groups=4, final_proj_dim=256)).eval()
    torch.manual_seed(2)
    model = save_rvc_checkpoint(tmp_path / "small_v1.pth",  # the WebUI's export layout
                                rvc_synthesizer(RVCConfig.from_list(SMALL_RVC), "v1", True), "v1")
    speech = synthesize_espeak("Streaming in the studio. The stage plays its first blocks while later segments are "
                               "still converting, so a listener hears the voice before the whole file is done. It "
                               "keeps going for a few more sentences, with pauses between them.")
    wav = tmp_path / "speech.wav"
    soundfile.write(wav, speech.data.T, speech.sample_rate, subtype="FLOAT")
    return model, save_transformers_folder(tmp_path / "encoder", enc), wav


def test_stream_blocks_play_before_the_stage_is_done(start_studio, browser_page, files):
    page, page_errors = browser_page
    model, encoder, wav = files
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    _import(page, {"format": "haysay.pipeline/1", "name": "streamed voice", "nodes": [
        {"id": "load", "type": "audio.load", "params": {"path": str(wav)}},
        {"id": "vc", "type": "vc.rvc", "params": {"model": str(model), "content_encoder": str(encoder),
                                                  "backend": "torch", "index_rate": 0.0, "stream": True}}],
        "edges": [{"from": "load.audio", "to": "vc.audio"}]})
    _select(page, "vc")
    page.click('[data-testid="run"]')
    page.wait_for_selector('[data-testid="stream-vc"]', timeout=30_000)
    first = page.wait_for_function(FIRST, timeout=120_000, polling="raf").json_value()
    # scheduled while the stage ran: the server said so with the block, and the canvas had not seen it end
    assert first["stage"] == "running" and first["canvas"] != "done", first
    _shot(page, "stream-1-first-block-playing")
    page.wait_for_selector('[data-testid="run-status"]:has-text("succeeded")', timeout=180_000)
    page.wait_for_function(ENDED, timeout=30_000)
    got = page.evaluate(SAMPLES)
    assert len(got["blocks"]) >= 3 and got["stages"][-1] in ("running", "done")
    streamed = np.concatenate([np.asarray(b, np.float32) for b in got["blocks"]])

    player = page.locator('[data-testid="player-vc-audio"]')  # the stage's stored artifact, once done
    player.wait_for()
    r = page.request.get(studio.url + player.get_attribute("data-src") + "?download=1")
    assert r.status == 200
    stored, rate = soundfile.read(io.BytesIO(r.body()), dtype="float32", always_2d=True)
    assert rate == got["rate"] == 40000 and got["channels"] == stored.shape[1] == 1
    assert streamed.size == stored.shape[0] and stored.shape[0] / rate > 10
    np.testing.assert_array_equal(streamed, stored[:, 0])
    # the live player stays after the stage ended (the redrawn panel re-attached to the page's stream)
    assert page.locator('[data-testid="stream-vc"]').count() == 1
    assert page_errors == []
