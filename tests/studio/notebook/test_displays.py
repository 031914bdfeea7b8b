"""Notebook displays: graph SVG, run table with decodable players, comparisons, error tables."""
import base64
import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import soundfile as sf

import haysay
from haysay.graph_engine import Engine, Settings
from haysay.graph_engine.values import Audio
from haysay.studio.notebook.audio_html import audio_data_uri, wav_bytes, wav_data_uri
from haysay.studio.notebook.compare import levels

URI = re.compile(r'<audio controls[^>]*src="data:audio/(?:mpeg|ogg|wav);base64,([A-Za-z0-9+/=]+)"')


def decode(b64: str):
    data, rate = sf.read(io.BytesIO(base64.b64decode(b64)), always_2d=True)
    return data, rate


@pytest.fixture(scope="module")
def run():
    eng = Engine(Settings.from_env(home=__import__("tempfile").mkdtemp(prefix="hs-nb-")))
    p = haysay.Pipeline("disp")
    tone = p.add("gen.tone", id="tone", frequency=330, duration=0.75, sample_rate=22050)
    quiet = p.add("audio.gain", id="quiet", gain_db=-6)
    tone >> quiet
    yield p.run(engine=eng)
    eng.close()


def test_pipeline_svg_has_a_node_per_pipeline_node():
    p = haysay.load("examples/hello.json")
    svg = p._repr_mimebundle_()["image/svg+xml"]
    root = ET.fromstring(svg)
    groups = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "hs-node"]
    assert sorted(g.get("data-node") for g in groups) == sorted(p.node_ids)
    edges = [e.get("data-edge") for e in root.iter("{http://www.w3.org/2000/svg}path")]
    assert sorted(edges) == ["high.audio->quiet.audio", "low.audio->resample.audio"]
    texts = "".join(root.itertext())
    assert "gen.tone" in texts and "audio.resample" in texts
    x = {g.get("data-node"): float(g.find("{http://www.w3.org/2000/svg}rect").get("x")) for g in groups}
    assert x["low"] < x["resample"] and x["high"] < x["quiet"] and x["low"] == x["high"]  # columns by depth


def test_run_table_embeds_a_compact_player_of_each_stage(run):
    html = run._repr_mimebundle_()["text/html"]
    players = URI.findall(html)
    assert len(players) == 2 and html.count("<tr>") == 3 and html.count('src="data:audio/mpeg;base64,') == 2
    for b64, node in zip(players, ["tone", "quiet"]):
        data, rate = decode(b64)  # libsndfile's own MP3 decoder
        original = run[node].audio.numpy()[0]
        assert rate == 22050 and abs(data.shape[0] - original.size) <= 22  # within 1 ms
        n = min(data.shape[0], original.size)
        assert np.corrcoef(data[:n, 0], original[:n])[0, 1] > 0.99
    quiet, _ = decode(players[1])
    rms = 20 * np.log10(np.sqrt(np.mean(quiet[:, 0] ** 2)))
    assert rms == pytest.approx(-21.01, abs=0.3)  # -12 dBFS peak tone (-15.01 dB rms), -6 dB gain
    assert "cache hit" in html and "worker" in html and "done" in html
    assert URI.findall(run["quiet"].play()._repr_mimebundle_()["text/html"])


def test_a_notebook_of_two_second_clips_stays_small(tmp_path):
    # issue 14.5: three 2 s players made a 1.2 MB notebook when each embedded its WAV
    eng = Engine(Settings.from_env(home=tmp_path))
    p = haysay.Pipeline("clips")
    for i, rate in enumerate((22050, 44100, 48000)):
        p.add("gen.tone", id=f"t{i}", waveform="sweep", duration=2.0, sample_rate=rate, channels=2)
    run = p.run(engine=eng)
    html = "".join(run[f"t{i}"].play()._repr_mimebundle_()["text/html"] for i in range(3))
    wav = sum(len(wav_bytes(run[f"t{i}"].audio.numpy(), run[f"t{i}"].audio.sample_rate)) for i in range(3))
    eng.close()
    print(f"3 stereo 2 s players: {len(html) / 1e3:.1f} kB of HTML; as WAV they would be {wav * 4 / 3 / 1e3:.0f} kB")
    assert len(html) < 100_000 < wav  # measured: 32.8 kB against 1218 kB


def test_rates_mp3_cannot_carry_fall_back_to_ogg():
    audio = Audio((0.1 * np.sin(np.arange(96000) / 20)).astype(np.float32)[None], 96000)
    uri, cut = audio_data_uri(audio)
    assert uri.startswith("data:audio/ogg;base64,") and not cut
    data, rate = decode(uri.split(",", 1)[1])
    assert rate == 96000 and data.shape == (96000, 1)


def test_players_cap_the_embedded_length():
    audio = Audio(np.zeros((2, 5 * 8000), np.float32), 8000)
    uri, cut = wav_data_uri(audio, max_seconds=2)
    data, rate = decode(uri.split(",", 1)[1])
    assert cut and data.shape == (16000, 2) and rate == 8000
    assert "first 2 s of 5.0 s embedded" in haysay.studio.notebook.audio_html.audio_tag(audio, max_seconds=2)


def test_compare_shows_players_figures_and_measured_levels(run):
    html = run.compare("tone", "quiet")._repr_mimebundle_()["text/html"]
    assert len(URI.findall(html)) == 2
    jpeg = base64.b64decode(re.search(r'src="data:image/jpeg;base64,([^"]+)"', html).group(1))
    from PIL import Image
    img = Image.open(io.BytesIO(jpeg))
    assert img.format == "JPEG" and img.size == (800, 400)  # 2 columns of 5 x 5 in at 80 dpi
    assert len(html) < 120_000
    a, b = levels(run["tone"].audio), levels(run["quiet"].audio)
    assert a["lufs"] - b["lufs"] == pytest.approx(6.0, abs=0.05)
    assert a["peak_dbfs"] == pytest.approx(-12, abs=0.05) and a["rms_dbfs"] == pytest.approx(-15.01, abs=0.05)
    assert f"{b['lufs']:.2f} LUFS" in html and "0.75 s" in html


def test_validation_errors_render_as_a_table():
    p = haysay.Pipeline()
    p.add("audio.gain", id="g")
    p.add("tts.espeak", id="tts")
    html = p.validate()._repr_mimebundle_()["text/html"]
    rows = re.findall(r"<tr>(.*?)</tr>", html)[1:]
    assert len(rows) == 2 and "2 problems" in html
    assert any("<td>g</td>" in r and "unconnected_input" in r for r in rows)
    ok = haysay.Pipeline()
    ok.add("gen.tone")
    assert "no problems" in ok.validate()._repr_mimebundle_()["text/html"]


def test_node_catalog_lists_registered_types():
    cat = haysay.node_types("source")
    assert {"gen.tone", "text.value"} <= {s.type for s in cat} and all(s.category == "source" for s in cat)
    assert "<code>gen.tone</code>" in cat._repr_mimebundle_()["text/html"]
