"""Node modes (bypass, mute), reroute points and groups: format, validation, cache keys, runs."""
import json

import numpy as np
import pytest

from haysay.graph_engine import Engine, InvalidPipeline, Settings, parse_pipeline
from haysay.graph_engine.builder import Pipeline
from haysay.graph_engine.graph import plan


def chain(gain_mode=None, **extra):
    gain = {"id": "gain", "type": "audio.gain", "params": {"gain_db": -9.0}}
    if gain_mode:
        gain["mode"] = gain_mode
    return {"format": "haysay.pipeline/1", "name": "modes",
            "nodes": [{"id": "tone", "type": "gen.tone", "params": {"frequency": 330, "duration": 1.0,
                                                                    "amplitude_db": -20}},
                      gain,
                      {"id": "norm", "type": "audio.loudness_normalize", "params": {"target_lufs": -23}},
                      {"id": "tone2", "type": "gen.tone", "params": {"frequency": 550, "duration": 1.0}}],
            "edges": [{"from": "tone.audio", "to": "gain.audio"}, {"from": "gain.audio", "to": "norm.audio"}],
            "outputs": {"out": "norm.audio", "gained": "gain.audio", "other": "tone2.audio"}, **extra}


def without_gain():
    doc = chain()
    doc["nodes"] = [n for n in doc["nodes"] if n["id"] != "gain"]
    doc["edges"] = [{"from": "tone.audio", "to": "norm.audio"}]
    doc["outputs"] = {"out": "norm.audio", "gained": "tone.audio", "other": "tone2.audio"}
    return doc


@pytest.fixture
def engine(haysay_home):
    eng = Engine(Settings.from_env())
    yield eng
    eng.close()


def rms_db(audio):
    x = audio.numpy()[0]
    return 20 * np.log10(np.sqrt(np.mean(x[1000:-1000] ** 2)))


def test_round_trip_keeps_mode_via_and_groups():
    doc = chain("bypass", groups=[{"id": "g1", "title": "Level", "nodes": ["gain", "norm"], "color": "#3b82f6"}])
    doc["edges"][1]["via"] = [{"x": 120, "y": 40.5}, {"x": 200, "y": 40.5}]
    text = json.dumps(doc)
    parsed = parse_pipeline(text)
    assert parsed.to_dict() == doc
    assert parse_pipeline(parsed.to_json()).to_json() == parsed.to_json()
    assert "mode" not in parse_pipeline(chain()).to_dict()["nodes"][1]  # normal stays absent
    with pytest.raises(ValueError, match="mode"):
        parse_pipeline(chain("sideways"))


def test_bypass_equals_graph_without_the_node(engine):
    bypassed, removed = engine.run(parse_pipeline(chain("bypass"))), engine.run(parse_pipeline(without_gain()))
    normal = engine.run(parse_pipeline(chain()))
    assert bypassed.ok and removed.ok and normal.ok
    assert "gain" not in bypassed.stages and set(bypassed.stages) == {"tone", "norm", "tone2"}
    assert bypassed.stages["norm"].cache_key == removed.stages["norm"].cache_key
    assert bypassed.stages["norm"].cache_key != normal.stages["norm"].cache_key
    assert sorted(removed.cached) == ["norm", "tone", "tone2"]  # the bypassed run stored what it needs
    np.testing.assert_array_equal(bypassed.outputs["out"].numpy(), removed.outputs["out"].numpy())
    # the output named on the bypassed node is what its input carried: the tone at -20 dBFS peak
    assert rms_db(bypassed.outputs["gained"]) == pytest.approx(-20 - 3.01, abs=0.1)
    assert rms_db(normal.outputs["gained"]) == pytest.approx(-29 - 3.01, abs=0.1)
    keys = engine.keys(plan(parse_pipeline(chain("bypass"))))
    assert keys == engine.keys(plan(parse_pipeline(without_gain())))


def test_bypass_without_same_type_input_is_a_located_error(engine):
    doc = chain()
    doc["nodes"][0]["mode"] = "bypass"  # a tone generator has no Audio input to pass on
    errors = plan(parse_pipeline(doc)).errors
    assert [(e.code, e.node, e.port) for e in errors] == [("bypass", "tone", "audio")]
    assert "cannot pass output 'audio' (Audio) through" in errors[0].message
    with pytest.raises(InvalidPipeline, match="tone.audio: bypass cannot pass"):
        engine.run(parse_pipeline(doc))


def test_mute_skips_node_and_what_needs_it(engine):
    result = engine.run(parse_pipeline(chain("mute")))
    assert result.ok, result.error
    assert {n: s.status for n, s in result.stages.items()} == {
        "tone": "done", "tone2": "done", "gain": "skipped", "norm": "skipped"}
    assert result.stages["norm"].error == "needs gain, which is skipped"
    assert set(result.outputs) == {"other"} and result.outputs["other"].frames == 48000
    history = {s.node_id: s.status for s in engine.history.stages(result.run_id)}
    assert history == {"tone": "done", "tone2": "done", "gain": "skipped", "norm": "skipped"}
    assert engine.history.runs(limit=1)[0].status == "succeeded"


def test_mute_through_a_two_input_node(engine):
    doc = chain()
    doc["nodes"].append({"id": "mix", "type": "audio.mix"})
    doc["edges"] += [{"from": "norm.audio", "to": "mix.a"}, {"from": "tone2.audio", "to": "mix.b"}]
    doc["nodes"][3]["mode"] = "mute"
    doc["outputs"] = {"mixed": "mix.audio", "out": "norm.audio"}
    result = engine.run(parse_pipeline(doc))
    assert result.ok and result.stages["mix"].status == "skipped" and result.stages["tone2"].status == "skipped"
    assert sorted(result.computed) == ["gain", "norm", "tone"]
    assert rms_db(result.outputs["out"]) == pytest.approx(-23 - 0.7, abs=1.5)  # LUFS of a 330 Hz tone ~ RMS-0.7


def test_group_naming_unknown_node_is_a_located_error():
    doc = chain(groups=[{"id": "g1", "title": "Level", "nodes": ["gain", "ghost"]}])
    errors = plan(parse_pipeline(doc)).errors
    assert [(e.code, e.field) for e in errors] == [("unknown_node", "groups.0.nodes.1")]
    assert "ghost" in errors[0].message
    assert plan(parse_pipeline(chain(groups=[{"id": "g1", "nodes": ["gain"]}]))).ok


def test_builder_bypass_mute_unmute(engine):
    p = Pipeline("b")
    tone = p.add("gen.tone", "tone", frequency=330, duration=1.0, amplitude_db=-20)
    gain = p.add("audio.gain", "gain", gain_db=-9.0)
    tone >> gain
    p.output("out", gain.audio)
    assert gain.bypass() is gain and p.to_dict()["nodes"][1]["mode"] == "bypass"
    assert rms_db(p.run(engine=engine).outputs["out"]) == pytest.approx(-23.01, abs=0.1)
    gain.mute()
    assert gain.mode == "mute" and p.run(engine=engine).result.stages["gain"].status == "skipped"
    gain.unmute()
    assert "mode" not in p.to_dict()["nodes"][1]
    assert rms_db(p.run(engine=engine).outputs["out"]) == pytest.approx(-32.01, abs=0.1)


def test_cli_validate_and_run_honour_modes(tmp_path, haysay_home, capsys):
    from haysay.cli import main

    bad = chain()
    bad["nodes"][0]["mode"] = "bypass"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    (tmp_path / "muted.json").write_text(json.dumps(chain("mute")))
    assert main(["validate", str(tmp_path / "bad.json")]) != 0
    assert "tone.audio: bypass cannot pass output" in capsys.readouterr().err
    assert main(["validate", str(tmp_path / "muted.json")]) == 0
    assert main(["run", str(tmp_path / "muted.json"), "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "gain" in err and "skipped" in err


def test_bypass_of_a_node_fed_by_a_pipeline_input(engine, tmp_path):
    from haysay.graph_engine.audiofile import write_audio
    from haysay.graph_engine.values import Audio

    t = np.arange(16000) / 16000
    wav = write_audio(tmp_path / "in.wav", Audio((0.1 * np.sin(2 * np.pi * 440 * t))[None].astype(np.float32), 16000))
    doc = {"format": "haysay.pipeline/1",
           "nodes": [{"id": "gain", "type": "audio.gain", "params": {"gain_db": -12.0}, "mode": "bypass"},
                     {"id": "norm", "type": "audio.peak_normalize"}],
           "edges": [{"from": "gain.audio", "to": "norm.audio"}],
           "inputs": {"voice": {"bind": "gain.audio"}}, "outputs": {"out": "norm.audio", "raw": "gain.audio"}}
    errors = plan(parse_pipeline(doc), inputs={"voice": str(wav)}).errors
    assert [(e.code, e.node, e.port) for e in errors] == [("bypass", "gain", "audio")]  # two users, one input
    del doc["outputs"]["raw"]
    result = engine.run(parse_pipeline(doc), inputs={"voice": str(wav)})  # the input now feeds norm itself
    assert result.ok and set(result.stages) == {"input:voice", "norm"}
    assert result.stages["norm"].cache_key == engine.run(parse_pipeline({
        **doc, "nodes": doc["nodes"][1:], "edges": [], "inputs": {"voice": {"bind": "norm.audio"}}}),
        inputs={"voice": str(wav)}).stages["norm"].cache_key


def test_builder_groups_and_reroutes_keep_keys_and_follow_removal(engine):
    from haysay.graph_engine.builder import WiringError

    p = Pipeline("g")
    tone, gain = p.add("gen.tone", id="tone", duration=0.2), p.add("audio.gain", id="gain", gain_db=-3.0)
    tone >> gain
    keys = engine.keys(plan(parse_pipeline(p.to_dict())))
    gid = p.group(tone, "gain", title="Level", color="#3b82f6")
    p.reroute("tone.audio", "gain.audio", [(10, 20), {"x": 30, "y": 40}])
    doc = json.loads(p.to_json())
    assert doc["groups"] == [{"id": "group_1", "title": "Level", "nodes": ["tone", "gain"], "color": "#3b82f6"}]
    assert doc["edges"][0]["via"] == [{"x": 10.0, "y": 20.0}, {"x": 30.0, "y": 40.0}]
    assert parse_pipeline(doc).groups[0].nodes == ["tone", "gain"]
    assert engine.keys(plan(parse_pipeline(doc))) == keys  # layout only: the cache keys are the same
    with pytest.raises(WiringError, match="exists already"):
        p.group(tone, id=gid)
    with pytest.raises(KeyError, match="no group 'nope'"):
        p.ungroup("nope")
    with pytest.raises(KeyError, match="no edge"):
        p.reroute("gain.audio", "tone.audio", [])
    p.reroute("tone.audio", "gain.audio", None)
    p.remove("gain")
    assert [g.nodes for g in p.groups] == [["tone"]] and plan(parse_pipeline(p.to_dict())).ok  # no stale member
    p.remove("tone")
    assert "groups" not in json.loads(p.to_json())
