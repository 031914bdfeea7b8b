"""WAV served from the artifact store: exact samples, byte ranges, strict keys."""
from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile
from fastapi import FastAPI
from fastapi.testclient import TestClient

from haysay.graph_engine import ArtifactStore
from haysay.studio.artifact_routes import add_artifact_routes, parse_range

KEY = "ab" * 32


@pytest.fixture
def served(tmp_path, sine_audio):
    store = ArtifactStore(tmp_path / "artifacts")
    audio = sine_audio(freq=330.0, seconds=0.5, rate=22050, amp=0.5, channels=2)
    w = store.writer(KEY)
    w.commit({"audio": audio, "label": "hi"}, {})
    app = FastAPI()
    add_artifact_routes(app, store)
    return TestClient(app), audio


def test_player_wav_matches_samples_within_16_bit(served):
    client, audio = served
    r = client.get(f"/artifact/{KEY}/audio.wav")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    data, rate = soundfile.read(io.BytesIO(r.content), dtype="float32", always_2d=True)
    assert rate == 22050 and data.shape == (audio.frames, 2)
    assert np.max(np.abs(data.T - audio.numpy())) < 1.0 / 32767 + 1e-6
    assert int(r.headers["content-length"]) == len(r.content)


def test_download_is_float32_and_exact(served):
    client, audio = served
    r = client.get(f"/artifact/{KEY}/audio.wav?download=1")
    assert "attachment" in r.headers["content-disposition"]
    data, _ = soundfile.read(io.BytesIO(r.content), dtype="float32", always_2d=True)
    np.testing.assert_array_equal(data.T, audio.numpy())


def test_byte_ranges_concatenate_to_the_whole_file(served):
    client, _ = served
    whole = client.get(f"/artifact/{KEY}/audio.wav").content
    parts = [client.get(f"/artifact/{KEY}/audio.wav", headers={"Range": f"bytes={a}-{a + 9999}"})
             for a in range(0, len(whole), 10000)]
    assert all(p.status_code == 206 for p in parts)
    assert b"".join(p.content for p in parts) == whole
    assert parts[0].headers["content-range"] == f"bytes 0-9999/{len(whole)}"
    assert client.get(f"/artifact/{KEY}/audio.wav", headers={"Range": "bytes=-7"}).content == whole[-7:]
    assert client.get(f"/artifact/{KEY}/audio.wav", headers={"Range": f"bytes={len(whole)}-"}).status_code == 416


@pytest.mark.parametrize("path,status", [
    ("/artifact/ABAB/audio.wav", 400),
    (f"/artifact/{KEY[:-1]}g/audio.wav", 400),
    (f"/artifact/{KEY}/a-b.wav", 400),
    (f"/artifact/{KEY}/..%2F..%2Fetc%2Fpasswd.wav", 404),  # never routed to the handler
    (f"/artifact/{'cd' * 32}/audio.wav", 404),
    (f"/artifact/{KEY}/other.wav", 404),
    (f"/artifact/{KEY}/label.wav", 415),
])
def test_bad_requests_are_refused(served, path, status):
    client, _ = served
    r = client.get(path)
    assert r.status_code == status, r.text


def test_parse_range_forms():
    assert parse_range("bytes=0-9", 100) == (0, 10)
    assert parse_range("bytes=90-", 100) == (90, 100)
    assert parse_range("bytes=-10", 100) == (90, 100)
    assert parse_range("bytes=5-500", 100) == (5, 100)
    assert parse_range("items=1-2", 100) is None and parse_range(None, 100) is None


def test_f0_outputs_are_drawn_as_png(tmp_path, sine_audio):
    from haysay.graph_engine import F0
    from haysay.nodes.analysis.f0 import extract_f0

    store = ArtifactStore(tmp_path / "artifacts")
    tone = sine_audio(freq=220.0, seconds=0.5, rate=16000)
    track = extract_f0(tone.mono(), tone.sample_rate, "praat")
    assert isinstance(track, F0) and abs(track.voiced_median() - 220.0) < 3
    store.writer(KEY).commit({"f0": track, "audio": tone}, {})
    app = FastAPI()
    add_artifact_routes(app, store)
    client = TestClient(app)
    r = client.get(f"/artifact/{KEY}/f0.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content.startswith(b"\x89PNG\r\n\x1a\n") and len(r.content) > 2000
    assert client.get(f"/artifact/{KEY}/audio.png").status_code == 415
    assert client.get(f"/artifact/{KEY}/f0.wav").status_code == 415
