"""The Metrics value: typed port, stored in the artifact store, its figures queryable per stage in the
history (for computed and cached stages alike)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from haysay.graph_engine import Engine, Settings, parse_pipeline
from haysay.graph_engine.history import History
from haysay.graph_engine.store import ArtifactStore
from haysay.graph_engine.values import Metrics, PortType, check_value

SAID = "Hello there. This is a test of the evaluation nodes."


def test_metrics_hold_finite_figures_and_segment_pairs():
    m = Metrics({"wer": 0.25, "words": 4}, {"wer": "ratio"}, text="hi", segments=[[0.5, 1.0], [2.0, 2.5]])
    assert m["words"] == 4.0 and isinstance(m["words"], float) and m.segments.shape == (2, 2)
    check_value(PortType.METRICS, m)
    assert PortType.METRICS.accepts(PortType.ANY) and not PortType.METRICS.accepts(PortType.AUDIO)
    with pytest.raises(ValueError, match="metric 'wer'"):
        Metrics({"wer": float("nan")})
    with pytest.raises(ValueError, match="end >= start"):
        Metrics({}, segments=[[2.0, 1.0]])
    assert "wer=0.25 ratio" in repr(m)


def test_metrics_round_trip_through_the_artifact_store(tmp_path):
    store = ArtifactStore(tmp_path / "artifacts")
    key = "ab" * 16
    value = Metrics({"ovrl": 3.25, "sig": 3.5}, {"ovrl": "MOS"}, text="the transcript",
                    segments=np.array([[0.1, 0.9], [1.25, 3.0]]))
    store.writer(key).commit({"metrics": value}, {"node_id": "q"})
    assert store.verify(key)
    back = store.open(key)["metrics"]
    assert isinstance(back, Metrics) and back.values == value.values and back.units == {"ovrl": "MOS"}
    assert back.text == "the transcript" and np.array_equal(back.segments, value.segments)
    empty_key = "cd" * 16
    store.writer(empty_key).commit({"metrics": Metrics({"segments": 0}, segments=np.zeros((0, 2)))}, {})
    assert store.open(empty_key)["metrics"].segments.shape == (0, 2)


def test_history_files_only_finished_stages_finite_numeric_figures(tmp_path):
    h = History(tmp_path / "h.duckdb")
    h.start_run("r1", {"name": "x"}, "hash")
    base = {"run_id": "r1", "node_type": "t", "params_json": "{}", "cache_hit": False, "status": "done"}
    h.record_stages([
        {**base, "node_id": "a", "cache_key": "k1", "info_json": json.dumps({"metrics": {"x": 1.5, "n": 2}})},
        {**base, "node_id": "b", "cache_key": "k2", "info_json": json.dumps({"metrics": {"s": "text", "ok": True}})},
        {**base, "node_id": "c", "cache_key": "k3", "status": "failed", "info_json": json.dumps({"metrics": {"y": 1}})},
        {**base, "node_id": "d", "cache_key": "k4", "info_json": json.dumps({"model_load_s": 0.2})},
    ])
    assert h.metrics("r1") == {"a": {"n": 2.0, "x": 1.5}}
    assert History(tmp_path / "h.duckdb").metrics("r1") == {"a": {"n": 2.0, "x": 1.5}}  # reopened: the schema holds


def speech_doc():
    return parse_pipeline({
        "format": "haysay.pipeline/1", "name": "judge",
        "nodes": [{"id": "text", "type": "text.value", "params": {"text": SAID}},
                  {"id": "tts", "type": "tts.espeak", "params": {}},
                  {"id": "asr", "type": "analysis.transcribe"},
                  {"id": "vad", "type": "analysis.vad"}],
        "edges": [{"from": "text.text", "to": "tts.text"}, {"from": "tts.audio", "to": "asr.audio"},
                  {"from": "text.text", "to": "asr.reference"}, {"from": "tts.audio", "to": "vad.audio"}],
        "outputs": {"asr": "asr.metrics", "vad": "vad.metrics", "voice": "tts.audio"}})


def test_a_run_records_its_figures_per_stage_also_when_cached(haysay_home):
    with Engine(Settings.from_env()) as eng:
        first = eng.run(speech_doc())
        assert first.ok, first.error
        asr, vad = first.outputs["asr"], first.outputs["vad"]
        assert isinstance(asr, Metrics) and asr.text and 0.0 <= asr["wer"] <= 1.0
        assert vad["segments"] >= 1 and vad["speech_s"] <= first.outputs["voice"].duration
        second = eng.run(speech_doc())
        assert sorted(second.cached) == ["asr", "text", "tts", "vad"]
        assert eng.history.metrics(first.run_id) == {"asr": asr.values, "vad": vad.values}
        assert eng.history.metrics(second.run_id) == eng.history.metrics(first.run_id)
        rows = eng.history.query("SELECT run_id, node_id, value, cache_hit FROM stage_metrics "
                                 "WHERE name = 'wer' ORDER BY cache_hit")
    got = rows.to_dict("records")  # pandas comes with the dev extra
    assert [(r["run_id"], r["node_id"], r["cache_hit"]) for r in got] == [(first.run_id, "asr", False),
                                                                         (second.run_id, "asr", True)]
    assert all(r["value"] == pytest.approx(asr["wer"]) for r in got)
