"""Input checks before running: truncated files, NaN positions, paths that are not files,
channel and rate limits from headers, outputs kept inside the output folder, sizes that
would not fit, and whole-file nodes' memory against a worker's budget."""
from __future__ import annotations

import os
import re
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from haysay.graph_engine import parse_pipeline, plan
from haysay.graph_engine.audiofile import AudioFileError, read_audio
from haysay.graph_engine.contract import AudioSink, NodeContext, default_registry
from haysay.graph_engine.values import Audio

RATE = 48000
BUILTIN_PREFIXES = ("audio.", "gen.", "text.", "tts.", "vc.", "analysis.")


def doc(nodes, edges=(), outputs=None):
    return parse_pipeline({"format": "haysay.pipeline/1", "nodes": list(nodes), "edges": list(edges),
                           "outputs": outputs or {}})


def load_then(path, type_id: str, **params):
    return doc([{"id": "l", "type": "audio.load", "params": {"path": str(path)}},
                {"id": "n", "type": type_id, "params": params}], [{"from": "l.audio", "to": "n.audio"}])


def write_tone(path, seconds: float = 2.0, rate: int = RATE, channels: int = 1, subtype: str = "PCM_16"):
    t = np.arange(int(seconds * rate)) / rate
    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(str(path), np.repeat(x[:, None], channels, axis=1), rate, subtype=subtype)
    return path


def test_truncated_wav_warns_in_validation_and_stage_info(tmp_path):
    full = write_tone(tmp_path / "full.wav", 2.0)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[:44 + 2 * int(1.2 * RATE)])  # 1.2 s of a 2 s file
    p = plan(load_then(cut, "audio.gain"))
    assert p.ok
    (w,) = p.warnings
    assert (w.code, w.node) == ("input_warning", "l")
    assert "cut.wav is truncated: its header declares 2.00 s of audio, the file holds 1.20 s" in w.message
    assert plan(load_then(full, "audio.gain")).warnings == []
    ctx = NodeContext()
    default_registry()["audio.load"].call({"path": str(cut)}, ctx=ctx)
    assert ctx.info["warnings"] == [w.message]


def test_nan_is_reported_at_its_real_frame(tmp_path):
    x = np.zeros((RATE, 1), np.float32)
    x[30_000] = np.nan
    x[100] = 0.5
    sf.write(str(tmp_path / "nan.wav"), x, RATE, subtype="FLOAT")
    with pytest.raises(AudioFileError, match=r"NaN or infinite samples at frame 30000 \(0.625 s\)"):
        read_audio(tmp_path / "nan.wav")
    y = np.zeros((200_000, 1), np.float32)
    y[150_000] = np.inf  # in the third block
    sf.write(str(tmp_path / "inf.wav"), y, RATE, subtype="FLOAT")
    with pytest.raises(AudioFileError, match="at frame 150000"):
        read_audio(tmp_path / "inf.wav")


def test_paths_that_are_not_files_say_what_they_are(tmp_path):
    os.mkfifo(tmp_path / "pipe.wav")
    cases = {str(tmp_path / "pipe.wav"): "is a named pipe (fifo)", str(tmp_path): "is a folder",
             "/dev/zero": "is a device", str(tmp_path / "none.wav"): "file not found"}
    for path, says in cases.items():
        (e,) = plan(doc([{"id": "l", "type": "audio.load", "params": {"path": path}}])).errors
        assert (e.code, e.node, e.field) == ("missing_file", "l", "path") and says in e.message
        with pytest.raises(AudioFileError, match=re.escape(says)):
            read_audio(path)


def test_channel_limit_comes_from_the_header_before_running(tmp_path):
    wide = write_tone(tmp_path / "wide.wav", 0.5, rate=384000, channels=8)
    (e,) = plan(load_then(wide, "audio.loudness_normalize")).errors
    assert (e.code, e.node) == ("invalid_input", "n")
    assert "audio has 8 channels; BS.1770 loudness weights at most 5" in e.message
    mono = doc([{"id": "l", "type": "audio.load", "params": {"path": str(wide)}},
                {"id": "m", "type": "audio.to_mono"}, {"id": "n", "type": "audio.loudness_normalize"}],
               [{"from": "l.audio", "to": "m.audio"}, {"from": "m.audio", "to": "n.audio"}])
    assert plan(mono).ok  # to_mono's declared shape: one channel reaches the loudness node
    short = write_tone(tmp_path / "short.wav", 0.2)
    (e,) = plan(load_then(short, "audio.loudness_normalize")).errors
    assert "needs at least 0.4 s" in e.message


def test_save_paths_stay_inside_the_output_folder_unless_absolute(tmp_path):
    def errors(path):
        return plan(doc([{"id": "t", "type": "gen.tone"}, {"id": "s", "type": "audio.save", "params": {"path": path}}],
                        [{"from": "t.audio", "to": "s.audio"}])).errors
    (e,) = errors("../../../../../etc/passwd")
    assert (e.node, e.field) == ("s", "path") and "must stay inside the output folder" in e.message
    assert errors("takes/../voice.wav") == [] and errors("takes/voice.wav") == []
    assert errors(str(tmp_path / "elsewhere" / "voice.wav")) == []  # an explicit absolute path


def test_generated_signal_sizes_are_bounded():
    (e,) = plan(doc([{"id": "t", "type": "gen.tone", "params": {
        "duration": 86400, "sample_rate": 384000, "channels": 8}}])).errors
    assert (e.node, e.field, e.code) == ("t", "duration", "invalid_param") and "988.8 GiB of samples" in e.message
    assert plan(doc([{"id": "t", "type": "gen.tone", "params": {"duration": 3600}}])).ok


def test_piper_voice_must_be_a_voice(tmp_path):
    (e,) = plan(doc([{"id": "v", "type": "tts.piper", "params": {"voice": "/etc/passwd"}}],
                    )).errors[:1] or [None]
    assert e is not None and (e.node, e.field) == ("v", "voice") and ".onnx" in e.message
    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(b"not really")
    errs = [x for x in plan(doc([{"id": "v", "type": "tts.piper", "params": {"voice": str(lonely)}}])).errors
            if x.code != "unconnected_input"]
    assert errs == []  # the text input is unconnected: size checks wait for a sound graph
    p = doc([{"id": "t", "type": "text.value", "params": {"text": "hi"}},
             {"id": "v", "type": "tts.piper", "params": {"voice": str(lonely)}}], [{"from": "t.text", "to": "v.text"}])
    (e,) = plan(p).errors
    assert (e.node, e.field, e.code) == ("v", "voice", "invalid_input") and "lonely.onnx.json" in e.message


def test_whole_file_stage_over_the_worker_budget_is_refused_with_the_figure(tmp_path):
    wav = write_tone(tmp_path / "minute.wav", 60.0, channels=2)  # 5.76 M samples
    p = plan(load_then(wav, "audio.loudness_normalize"), memory_budget_mb=300)
    (e,) = p.errors
    assert (e.code, e.node) == ("memory", "n")
    assert "needs about 410 MB for audio 60 s x 2 ch @ 48000 Hz, but a worker has 300 MB" in e.message
    assert plan(load_then(wav, "audio.gain"), memory_budget_mb=300).ok  # streams: a few blocks
    assert plan(load_then(wav, "audio.trim_silence"), memory_budget_mb=300).ok  # two passes over blocks
    ok = plan(load_then(wav, "audio.loudness_normalize"), memory_budget_mb=4096)
    assert ok.ok and 400 < ok.memory_need_mb("n") < 420 and ok.shape("n").frames == 60 * RATE


def test_every_builtin_node_streams_or_declares_its_memory():
    undeclared = [s.type for s in default_registry() if s.type.startswith(BUILTIN_PREFIXES) and not s.memory_declared]
    assert undeclared == []


def test_a_long_input_to_a_voice_model_is_refused_before_it_runs(tmp_path):
    wav = write_tone(tmp_path / "ten-minutes.wav", 600.0)
    for node_type, params in (("vc.rvc", {"model": "any"}), ("vc.sovits", {"model": "any"}),
                              ("vc.world", {})):
        p = plan(load_then(wav, node_type, **params), memory_budget_mb=1500)
        assert [(e.code, e.node) for e in p.errors if e.code == "memory"] == [("memory", "n")], node_type
    # ten seconds fit: about 1.5 GB (model) plus what the audio needs
    short = write_tone(tmp_path / "ten-seconds.wav", 10.0)
    need = plan(load_then(short, "vc.rvc", model="any"), memory_budget_mb=8192).memory_need_mb("n")
    assert 1500 + 400 < need < 1500 + 700


class LazyTone:
    """A long stereo signal computed block by block: its samples never exist all at once."""

    def __init__(self, frames: int, loud: tuple[int, int]):
        self.shape, self.loud = (2, frames), loud

    def __getitem__(self, key):
        _, cols = key
        start, stop, _ = cols.indices(self.shape[1])
        n = np.arange(start, stop)
        x = np.where((n >= self.loud[0]) & (n < self.loud[1]), 0.3 * np.sin(n * 0.05), 0.0).astype(np.float32)
        return np.stack([x, x])


class CountingSink(AudioSink):
    def __init__(self):
        self.frames = 0

    def write(self, block):
        self.frames += block.shape[-1]

    def finish(self):
        return self.frames


def test_trim_silence_on_long_audio_uses_bounded_memory():
    frames = 30 * 60 * RATE  # half an hour of stereo: 691 MB as float32
    audio = Audio(LazyTone(frames, (RATE * 60, frames - RATE * 60)), RATE)
    ctx = NodeContext(audio_sink=lambda port, rate, ch: CountingSink())
    tracemalloc.start()
    try:
        kept = default_registry()["audio.trim_silence"].call({"padding": 0.0}, ctx=ctx, audio=audio)["audio"]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert abs(kept - (frames - 2 * 60 * RATE)) <= 480  # within one 10 ms frame
    assert ctx.info["trimmed_start_s"] == pytest.approx(60.0, abs=0.01)
    assert peak < 64 << 20, f"{peak / 2**20:.0f} MB"
