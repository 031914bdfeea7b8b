"""Upload checks and the allowed-folder rule of server mode."""
from __future__ import annotations

import io

import pytest
import soundfile

from haysay.graph_engine import default_registry, parse_pipeline
from haysay.studio.uploads import UploadRejected, path_problems, store_upload


def _wav_bytes(audio) -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, audio.numpy().T, audio.sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def test_real_audio_is_kept_by_content_hash(tmp_path, sine_audio):
    data = _wav_bytes(sine_audio(seconds=0.5, rate=16000))
    stored = store_upload(tmp_path, "take 1.wav", data, max_bytes=1 << 20)
    assert stored.path.parent == tmp_path and stored.path.suffix == ".wav"
    assert (stored.sample_rate, stored.channels) == (16000, 1) and stored.duration == pytest.approx(0.5)
    assert store_upload(tmp_path, "again.wav", data, 1 << 20).path == stored.path


@pytest.mark.parametrize("name,data,match", [
    ("notes.txt", b"hello", "unsupported file type .txt"),
    ("fake.wav", b"this is not audio at all" * 10, "not readable audio"),
    ("empty.flac", b"", "is empty"),
])
def test_bad_uploads_are_refused_with_the_reason(tmp_path, name, data, match):
    with pytest.raises(UploadRejected, match=match):
        store_upload(tmp_path, name, data, max_bytes=1 << 20)
    assert not any(tmp_path.iterdir())  # nothing half-kept


def test_oversized_upload_is_refused(tmp_path, sine_audio):
    data = _wav_bytes(sine_audio(seconds=1.0))
    with pytest.raises(UploadRejected, match="the limit is"):
        store_upload(tmp_path, "big.wav", data, max_bytes=len(data) - 1)


def test_paths_outside_allowed_roots_are_located_errors(tmp_path):
    allowed = tmp_path / "uploads"
    allowed.mkdir()
    doc = parse_pipeline({"format": "haysay.pipeline/1", "nodes": [
        {"id": "ok", "type": "audio.load", "params": {"path": str(allowed / "a.wav")}},
        {"id": "sneaky", "type": "audio.load", "params": {"path": str(allowed / ".." / ".." / "etc" / "passwd")}},
        {"id": "out", "type": "audio.save", "params": {"path": "/tmp/elsewhere.wav"}},
        {"id": "web", "type": "audio.load", "params": {"path": "http://example.com/a.wav"}}]})
    errors = path_problems(doc, default_registry(), [allowed])
    assert {(e.node, e.field, e.code) for e in errors} == {
        ("sneaky", "path", "forbidden_path"), ("out", "path", "forbidden_path"), ("web", "path", "forbidden_path")}
