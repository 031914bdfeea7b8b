"""End-to-end runs on the embedded cluster: outputs, cache across restarts, failures, history."""
import json

import numpy as np
import pytest

from haysay.graph_engine import Engine, InvalidPipeline, Settings, parse_pipeline
from haysay.graph_engine.audiofile import write_audio


def chain_doc(gain_db=-6.0, rate=16000):
    return parse_pipeline({
        "format": "haysay.pipeline/1", "name": "chain",
        "nodes": [{"id": "tone", "type": "gen.tone", "params": {"frequency": 440, "duration": 1.5}},
                  {"id": "gain", "type": "audio.gain", "params": {"gain_db": gain_db}},
                  {"id": "rs", "type": "audio.resample", "params": {"sample_rate": rate}}],
        "edges": [{"from": "tone.audio", "to": "gain.audio"}, {"from": "gain.audio", "to": "rs.audio"}],
        "outputs": {"out": "rs.audio"}})


@pytest.fixture
def engine(haysay_home):
    eng = Engine(Settings.from_env())
    yield eng
    eng.close()


def test_run_produces_measured_output(engine):
    result = engine.run(chain_doc())
    assert result.ok, result.error
    out = result.outputs["out"]
    assert out.sample_rate == 16000 and out.frames == pytest.approx(24000, abs=2)
    x = out.numpy()[0]
    peak_db = 20 * np.log10(np.max(np.abs(x[2000:-2000])))
    assert peak_db == pytest.approx(-12.0 - 6.0, abs=0.1)  # tone at -12 dBFS, gain -6 dB
    spectrum = np.abs(np.fft.rfft(x))
    assert np.argmax(spectrum) * 16000 / len(x) == pytest.approx(440, abs=2)
    assert set(result.computed) == {"tone", "gain", "rs"}


def test_rerun_recomputes_only_changed_node_across_restarts(haysay_home):
    with Engine(Settings.from_env()) as first:
        r1 = first.run(chain_doc(gain_db=-6.0))
    with Engine(Settings.from_env()) as second:  # a new process would see the same store and history
        r2 = second.run(chain_doc(gain_db=-6.0))
        r3 = second.run(chain_doc(gain_db=-6.0, rate=8000))
        stages = {s.node_id: s for s in second.history.stages(r3.run_id)}
    assert r1.computed and not r2.computed and sorted(r2.cached) == ["gain", "rs", "tone"]
    assert r3.computed == ["rs"] and stages["rs"].cache_hit is False
    assert stages["tone"].cache_hit and stages["gain"].cache_hit
    assert stages["gain"].cache_key == r1.stages["gain"].cache_key
    assert r3.outputs["out"].sample_rate == 8000


def test_no_cache_forces_recompute(engine):
    first = engine.run(chain_doc())
    made = {n: engine.store.attrs(s.cache_key)["created"] for n, s in first.stages.items()}
    again = engine.run(chain_doc(), use_cache=False)
    assert sorted(again.computed) == ["gain", "rs", "tone"]
    remade = {n: engine.store.attrs(s.cache_key)["created"] for n, s in again.stages.items()}
    assert all(remade[n] > made[n] for n in made)  # really computed and stored again
    assert all(not s.info.get("reused") for s in again.stages.values())


def test_file_inputs_are_keyed_by_content(engine, tmp_path, sine_audio):
    doc = parse_pipeline({"format": "haysay.pipeline/1",
                          "nodes": [{"id": "g", "type": "audio.gain", "params": {"gain_db": 3}}],
                          "inputs": {"voice": {"bind": "g.audio"}}, "outputs": {"out": "g.audio"}})
    a = write_audio(tmp_path / "a.wav", sine_audio(220), "wav")
    b = write_audio(tmp_path / "b.wav", sine_audio(220), "wav")  # same content, other name
    r1 = engine.run(doc, inputs={"voice": str(a)})
    r2 = engine.run(doc, inputs={"voice": str(b)})
    assert r1.computed and r2.computed == []
    write_audio(a, sine_audio(330), "wav")  # changed content, same name
    r3 = engine.run(doc, inputs={"voice": str(a)})
    assert sorted(r3.computed) == ["g", "input:voice"]


def test_failing_node_fails_run_and_keeps_sibling_outputs(engine, tmp_path):
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage garbage")
    doc = parse_pipeline({
        "format": "haysay.pipeline/1",
        "nodes": [{"id": "ok", "type": "gen.tone"}, {"id": "okgain", "type": "audio.gain"},
                  {"id": "broken", "type": "audio.load", "params": {"path": str(bad)}},
                  {"id": "after", "type": "audio.gain"}],
        "edges": [{"from": "ok.audio", "to": "okgain.audio"}, {"from": "broken.audio", "to": "after.audio"}]})
    result = engine.run(doc)
    assert result.status == "failed"
    assert result.stages["broken"].status == "failed" and "not a readable audio file" in result.stages["broken"].error
    assert result.stages["after"].status == "skipped" and "broken" in result.stages["after"].error
    assert result.stages["okgain"].status == "done"
    assert "broken (audio.load) failed" in result.error
    run = engine.history.run(result.run_id)
    assert run.status == "failed" and "broken" in run.error
    again = engine.run(doc)
    assert "okgain" in again.cached and "ok" in again.cached


def test_invalid_pipeline_raises_before_running(engine):
    doc = chain_doc(gain_db=1000)
    with pytest.raises(InvalidPipeline) as err:
        engine.run(doc)
    assert err.value.errors[0].field == "gain_db"
    assert engine.history.runs() == []


def test_history_records_runs_and_stages(engine):
    r = engine.run(chain_doc())
    run = engine.history.run(r.run_id)
    assert run.status == "succeeded" and run.pipeline_name == "chain" and run.duration_s > 0
    assert json.loads(run.pipeline_json)["nodes"][0]["id"] == "tone"
    stages = engine.history.stages(r.run_id)
    assert {s.node_id for s in stages} == {"tone", "gain", "rs"}
    assert all(s.status == "done" and s.worker and s.duration_s >= 0 and s.artifact_ref == s.cache_key for s in stages)
    assert json.loads([s for s in stages if s.node_id == "gain"][0].params_json) == {"gain_db": -6.0}


def test_events_report_each_stage(engine):
    events = []
    engine.run(chain_doc(), on_event=events.append)
    by_node = {}
    for ev in events:
        by_node.setdefault(ev.node, []).append(ev.status)
    for node in ("tone", "gain", "rs"):
        assert by_node[node][0] == "queued" and by_node[node][-1] == "done"
    cached = []
    engine.run(chain_doc(), on_event=cached.append)
    assert {e.status for e in cached} == {"cached"}


def test_stage_artifacts_carry_attrs(engine):
    r = engine.run(chain_doc())
    attrs = engine.store.attrs(r.stages["gain"].cache_key)
    assert attrs["node_type"] == "audio.gain" and attrs["params"] == {"gain_db": -6.0}
    assert attrs["ports"]["audio"]["sample_rate"] == 48000 and attrs["created"] > 0


def test_incomplete_artifact_is_a_cache_miss_and_is_replaced(engine):
    """A stored stage whose chunk went missing (as a sweep mid-write used to cause) is recomputed,
    never served as zeros."""
    from pathlib import Path
    first = engine.run(chain_doc())
    expected = first.outputs["out"].numpy()
    key = first.stages["gain"].cache_key
    chunk = Path(engine.store.base) / "objects" / key[:2] / key / "audio" / "c" / "0" / "0"
    chunk.unlink()
    again = engine.run(chain_doc())
    assert again.ok, again.error
    assert again.computed == ["gain"] and set(again.cached) == {"tone", "rs"}  # rs's own artifact is whole
    np.testing.assert_array_equal(again.outputs["out"].numpy(), expected)
    assert chunk.is_file() and engine.store.verify(key)  # replaced, whole
    third = engine.run(chain_doc())
    assert set(third.cached) == {"tone", "gain", "rs"}


def test_a_failing_stage_shows_only_the_located_error_on_stderr(haysay_home, tmp_path):
    """Dask's worker logger printed a "Compute Failed ... Traceback" block for every failed stage;
    the user should see haysay's one located error, with the trace kept in history."""
    import subprocess
    import sys
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage garbage")
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"format": "haysay.pipeline/1", "outputs": {"o": "broken.audio"},
                                "nodes": [{"id": "broken", "type": "audio.load", "params": {"path": str(bad)}}]}))
    out = subprocess.run([sys.executable, "-m", "haysay", "run", str(path), "--out", str(tmp_path / "o"), "-q"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Compute Failed" not in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert "error: broken (audio.load) failed: AudioFileError" in out.stderr
    from haysay.graph_engine import History
    hist = History(Settings.from_env().history_path)
    (stage,) = hist.stages(hist.runs()[0].run_id)
    assert stage.status == "failed" and "Traceback" not in stage.error
    assert "audio.load" in stage.info["traceback"] or "File " in stage.info["traceback"]
