"""audio.load and audio.save: round trips with bit depth, and clear errors for bad files."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from haysay.graph_engine.audiofile import AudioFileError
from haysay.graph_engine.values import Audio

RATE = 48000


@pytest.fixture
def stereo(sine_audio) -> Audio:
    a = sine_audio(freq=440, seconds=0.5, amp=0.5)
    b = sine_audio(freq=660, seconds=0.5, amp=0.25)
    return Audio(np.concatenate([a.numpy(), b.numpy()]), RATE)


@pytest.mark.parametrize("fmt,depth,subtype,bits", [
    ("wav", "16", "PCM_16", 16), ("wav", "24", "PCM_24", 24), ("wav", "32", "PCM_32", 32),
    ("wav", "float", "FLOAT", None), ("flac", "16", "PCM_16", 16), ("flac", "24", "PCM_24", 24),
])
def test_lossless_round_trip_with_depth(tools, tmp_path, stereo, fmt, depth, subtype, bits):
    path = tmp_path / f"out.{fmt}"
    passed = tools.call("audio.save", {"path": str(path), "format": fmt, "depth": depth}, audio=stereo)
    assert passed is stereo
    info = sf.info(str(path))
    assert (info.subtype, info.samplerate, info.channels, info.frames) == (subtype, RATE, 2, stereo.frames)
    back = tools.call("audio.load", {"path": str(path)})
    assert (back.sample_rate, back.channels, back.frames) == (RATE, 2, stereo.frames)
    err = np.abs(back.numpy() - stereo.numpy()).max()
    assert err <= (2.0 ** -(bits - 1) if bits else 0.0)  # at most one quantization step
    assert list(tmp_path.iterdir()) == [path]  # no partial file left behind


def test_ogg_vorbis_round_trip_keeps_tone(tools, tmp_path, stereo):
    path = tmp_path / "out.ogg"
    tools.call("audio.save", {"path": str(path), "format": "ogg"}, audio=stereo)
    assert sf.info(str(path)).subtype == "VORBIS"
    back = tools.call("audio.load", {"path": str(path)}).numpy()
    assert back.shape[0] == 2 and abs(back.shape[1] - stereo.frames) < 2048
    assert tools.dominant_frequency(back[1, 4000:20000], RATE) == pytest.approx(660, rel=0.002)
    assert tools.level_at(back[0, 4000:20000], RATE, 440) == pytest.approx(20 * np.log10(0.5), abs=0.5)


def test_save_rejects_depth_the_container_lacks(tools, tmp_path, stereo):
    with pytest.raises(AudioFileError, match=r"flac supports bit depth/codec \['16', '24'\], got 'float'"):
        tools.call("audio.save", {"path": str(tmp_path / "x.flac"), "format": "flac", "depth": "float"}, audio=stereo)
    assert not any(tmp_path.iterdir())


def test_load_missing_empty_text_and_corrupt_files(tools, tmp_path, stereo):
    with pytest.raises(AudioFileError, match="nope.wav: file not found"):
        tools.call("audio.load", {"path": str(tmp_path / "nope.wav")})
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioFileError, match="empty.wav: file is empty"):
        tools.call("audio.load", {"path": str(empty)})
    text = tmp_path / "notes.wav"
    text.write_text("these are words, not samples\n" * 20)
    with pytest.raises(AudioFileError, match="notes.wav: not a readable audio file"):
        tools.call("audio.load", {"path": str(text)})
    good = tmp_path / "good.flac"
    tools.call("audio.save", {"path": str(good), "format": "flac"}, audio=stereo)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(good.read_bytes()[:good.stat().st_size // 2])
    with pytest.raises(AudioFileError, match="cut.flac: corrupt audio"):
        tools.call("audio.load", {"path": str(cut)})
    header_only = tmp_path / "header.wav"
    tools.call("audio.save", {"path": str(header_only), "format": "wav"}, audio=stereo)
    header_only.write_bytes(header_only.read_bytes()[:30])
    with pytest.raises(AudioFileError, match="header.wav: not a readable audio file"):
        tools.call("audio.load", {"path": str(header_only)})


def test_io_param_errors(tools):
    errs = tools.param_errors("audio.save", {"path": "x.wav", "format": "aiff"})
    assert errs[0].field == "format"
    assert tools.param_errors("audio.load", {})[0].field == "path"
    assert tools.param_errors("audio.load", {"path": ""})[0].field == "path"
