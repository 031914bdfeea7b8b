"""Players without a front end embed a playable preview; with one, the kernel sends the clip itself (issue 14)."""
import base64
import io
import re

import nbformat
import numpy as np
import pytest
import soundfile as sf

from haysay.graph_engine.values import Audio

CELLS = ['import haysay\np = haysay.Pipeline("t")\np.add("gen.tone", id="tone", duration=0.5)\nrun = p.run()',
         'run["tone"].play()', 'run["tone"]']


def test_nbclient_run_embeds_a_playable_compressed_preview(tmp_path, monkeypatch):
    from nbclient import NotebookClient
    monkeypatch.setenv("HAYSAY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HAYSAY_NOTEBOOK_AUDIO", raising=False)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=180).execute()
    for cell in nb.cells[1:]:
        data = cell.outputs[0]["data"]
        assert "application/vnd.jupyter.widget-view+json" not in data  # nothing would fetch it
        mime, payload = re.search(r'src="data:(audio/[a-z]+);base64,([^"]+)"', data["text/html"]).groups()
        assert mime == "audio/mpeg"
        samples, rate = sf.read(io.BytesIO(base64.b64decode(payload)))
        assert len(samples) / rate == pytest.approx(0.5, abs=0.06)
    assert "widgets" not in nb.metadata  # no widget state stored either


def test_audio_refs_sends_the_clip_the_page_asks_for():
    pytest.importorskip("anywidget")
    from haysay.studio.notebook.live_audio import audio_refs
    t = np.arange(24000) / 24000
    a = Audio(np.stack([0.5 * np.sin(2 * np.pi * 220 * t), 0.25 * np.sin(2 * np.pi * 440 * t)]).astype(np.float32), 24000)
    b = Audio((0.3 * np.sin(2 * np.pi * 330 * t[:12000]))[None].astype(np.float32), 24000)
    widget = audio_refs(lambda tag: tag(a, "a") + tag(b, "b"))
    assert widget.html.count("data-hs-ref") == 2 and "base64" not in widget.html
    sent = []
    widget.send = lambda content, buffers=None: sent.append((content, buffers))
    widget._on_msg(widget, {"fetch": 1}, [])
    widget._on_msg(widget, {"fetch": 7}, [])      # unknown refs and junk are ignored
    widget._on_msg(widget, {"fetch": "0"}, [])
    assert len(sent) == 1 and sent[0][0] == {"kind": "audio", "ref": 1, "mime": "audio/wav", "cut": False}
    samples, rate = sf.read(io.BytesIO(sent[0][1][0]))
    assert rate == 24000 and samples.shape == (12000,)
    assert np.max(np.abs(samples - b.numpy()[0])) < 1e-4  # 16-bit WAV of the stage's own samples
