"""Preflight validation: every kind of problem, all collected, each located."""
import pytest

from haysay.graph_engine import parse_pipeline, plan


def doc(nodes, edges=(), inputs=None, outputs=None):
    return parse_pipeline({"format": "haysay.pipeline/1", "nodes": list(nodes), "edges": list(edges),
                           "inputs": inputs or {}, "outputs": outputs or {}})


def errors_of(d, **kw):
    return plan(d, **kw).errors


def test_valid_pipeline_has_no_errors():
    d = doc([{"id": "t", "type": "gen.tone"}, {"id": "g", "type": "audio.gain"}], [{"from": "t.audio", "to": "g.audio"}],
            outputs={"out": "g.audio"})
    p = plan(d)
    assert p.ok and p.order() == ["t", "g"] and p.outputs == {"out": ("g", "audio")}


def test_collects_all_problems_not_the_first():
    d = doc([{"id": "g", "type": "audio.gain", "params": {"gain_db": 400}},
             {"id": "x", "type": "no.such"},
             {"id": "r", "type": "audio.resample", "params": {"sample_rate": "fast"}}])
    codes = sorted(e.code for e in errors_of(d))
    assert codes == ["invalid_param", "invalid_param", "unconnected_input", "unconnected_input", "unknown_node_type"]


def test_param_range_message_is_actionable():
    d = doc([{"id": "t", "type": "gen.tone", "params": {"frequency": 40000}}])
    (e,) = errors_of(d)
    assert (e.code, e.node, e.field) == ("invalid_param", "t", "frequency")
    assert e.message == "must be between 0.0 and 20000.0 Hz, got 40000"
    assert str(e) == "t.frequency: must be between 0.0 and 20000.0 Hz, got 40000"


def test_wrong_type_and_unknown_param():
    d = doc([{"id": "t", "type": "gen.tone", "params": {"duration": "long", "colour": "red"}}])
    errs = {e.field: e for e in errors_of(d)}
    assert errs["duration"].code == "invalid_param" and "number" in errs["duration"].message
    assert errs["colour"].code == "invalid_param" and "known: waveform" in errs["colour"].message


def test_duplicate_ids():
    d = doc([{"id": "t", "type": "gen.tone"}, {"id": "t", "type": "gen.tone"}])
    assert [(e.code, e.node) for e in errors_of(d)] == [("duplicate_id", "t")]


def test_unknown_port_and_unknown_edge_node():
    d = doc([{"id": "t", "type": "gen.tone"}, {"id": "g", "type": "audio.gain"}],
            [{"from": "t.sound", "to": "g.audio"}, {"from": "ghost.audio", "to": "g.audio"}])
    errs = errors_of(d)
    assert ("unknown_port", "t", "sound") in [(e.code, e.node, e.port) for e in errs]
    assert any(e.code == "bad_edge" and e.node == "ghost" for e in errs)


def test_port_type_mismatch():
    d = doc([{"id": "txt", "type": "text.value"}, {"id": "g", "type": "audio.gain"}],
            [{"from": "txt.text", "to": "g.audio"}])
    errs = errors_of(d)
    mism = [e for e in errs if e.code == "port_type_mismatch"]
    assert mism and mism[0].node == "g" and mism[0].port == "audio" and "Text" in mism[0].message


def test_input_fed_twice():
    d = doc([{"id": "a", "type": "gen.tone"}, {"id": "b", "type": "gen.tone"}, {"id": "g", "type": "audio.gain"}],
            [{"from": "a.audio", "to": "g.audio"}, {"from": "b.audio", "to": "g.audio"}])
    assert [(e.code, e.node, e.port) for e in errors_of(d)] == [("bad_edge", "g", "audio")]


def test_cycle_detected():
    d = doc([{"id": "a", "type": "audio.gain"}, {"id": "b", "type": "audio.gain"}],
            [{"from": "a.audio", "to": "b.audio"}, {"from": "b.audio", "to": "a.audio"}])
    errs = errors_of(d)
    assert [e.code for e in errs] == ["cycle"] and "a -> b -> a" in errs[0].message or "b -> a -> b" in errs[0].message


def test_unconnected_required_input():
    d = doc([{"id": "g", "type": "audio.gain"}])
    assert [(e.code, e.node, e.port) for e in errors_of(d)] == [("unconnected_input", "g", "audio")]


def test_missing_input_file(tmp_path):
    d = doc([{"id": "l", "type": "audio.load", "params": {"path": str(tmp_path / "gone.wav")}}])
    (e,) = errors_of(d)
    assert (e.code, e.node, e.field) == ("missing_file", "l", "path")


def test_pipeline_inputs_bind_params_and_ports(tmp_path, sine_audio):
    from haysay.graph_engine.audiofile import write_audio
    wav = write_audio(tmp_path / "in.wav", sine_audio(), "wav")
    d = doc([{"id": "t", "type": "gen.tone"}, {"id": "g", "type": "audio.gain"}],
            inputs={"freq": {"bind": "t.frequency"}, "voice": {"bind": "g.audio"}}, outputs={"out": "g.audio"})
    missing = errors_of(d)
    assert sorted(e.code for e in missing) == ["missing_input", "missing_input"]
    p = plan(d, inputs={"freq": 300, "voice": str(wav)})
    assert p.ok and p.params("t").frequency == 300.0
    assert p.upstream("g") == {"audio": ("input:voice", "audio")}
    bad = errors_of(d, inputs={"freq": 300, "voice": str(tmp_path / "none.wav"), "extra": 1})
    assert sorted(e.code for e in bad) == ["missing_file", "unknown_input"]


def test_unknown_outputs_and_input_targets():
    d = doc([{"id": "t", "type": "gen.tone"}], inputs={"x": {"bind": "t.nothing", "default": 1}},
            outputs={"o": "t.wave", "p": "ghost.audio"})
    codes = sorted(e.code for e in errors_of(d))
    assert codes == ["unknown_input", "unknown_output", "unknown_output"]


def test_overrides_apply_and_are_validated():
    d = doc([{"id": "t", "type": "gen.tone"}])
    assert plan(d, overrides=[("t", "frequency", 1000)]).params("t").frequency == 1000
    errs = errors_of(d, overrides=[("t", "frequency", -5), ("nobody", "x", 1)])
    assert sorted(e.code for e in errs) == ["invalid_param", "unknown_node"]


def test_override_beats_an_input_default_but_not_an_explicit_input():
    d = doc([{"id": "t", "type": "gen.tone"}], inputs={"freq": {"bind": "t.frequency", "default": 200}})
    assert plan(d).params("t").frequency == 200
    assert plan(d, overrides=[("t", "frequency", 300)]).params("t").frequency == 300
    assert plan(d, inputs={"freq": 400}, overrides=[("t", "frequency", 300)]).params("t").frequency == 400


def diamond_chain(diamonds: int) -> list[tuple[list, list]]:
    """m0 -> (p, q) -> m1 -> ... -> m<n> -> m0: 2^n simple cycles through 3n+1 nodes."""
    nodes = [{"id": "m0", "type": "audio.mix"}]
    edges = []
    for i in range(1, diamonds + 1):
        nodes += [{"id": f"p{i}", "type": "audio.gain"}, {"id": f"q{i}", "type": "audio.gain"},
                  {"id": f"m{i}", "type": "audio.mix"}]
        edges += [{"from": f"m{i - 1}.audio", "to": f"p{i}.audio"}, {"from": f"m{i - 1}.audio", "to": f"q{i}.audio"},
                  {"from": f"p{i}.audio", "to": f"m{i}.a"}, {"from": f"q{i}.audio", "to": f"m{i}.b"}]
    edges.append({"from": f"m{diamonds}.audio", "to": "m0.a"})
    return nodes, edges


def test_cycles_reported_per_component_in_linear_time():
    import time

    nodes, edges = diamond_chain(29)  # 88 nodes, 2^29 simple cycles: enumerating them never ends
    nodes += [{"id": "x", "type": "audio.gain"}, {"id": "y", "type": "audio.gain"}]
    edges += [{"from": "x.audio", "to": "y.audio"}, {"from": "y.audio", "to": "x.audio"}]
    t0 = time.perf_counter()
    errs = [e for e in errors_of(doc(nodes, edges)) if e.code == "cycle"]
    assert time.perf_counter() - t0 < 5
    assert len(errs) == 2  # one per loop, not one per simple cycle
    big = next(e for e in errs if e.node != "x")
    assert "m0" in big.message and "and 68 more" in big.message  # 88 nodes named in a bounded message
    assert "x -> y -> x" in next(e for e in errs if e.node == "x").message


def test_override_nested_too_deeply_is_a_value_error():
    from haysay.graph_engine import parse_override

    with pytest.raises(ValueError, match="nests too deeply"):
        parse_override("t.seed=" + "[" * 100_000)


def test_missing_models_are_named_even_after_speech_from_text(tmp_path, monkeypatch):
    # the shapes walk cannot size a TTS node's output; the converter after it still has its model checked
    monkeypatch.setenv("HAYSAY_HOME", str(tmp_path))
    doc = parse_pipeline({"format": "haysay.pipeline/1", "nodes": [
        {"id": "words", "type": "text.value", "params": {"text": "hello"}},
        {"id": "say", "type": "tts.espeak", "params": {}},
        {"id": "convert", "type": "vc.rvc", "params": {"model": "no-such-voice"}}],
        "edges": [{"from": "words.text", "to": "say.text"}, {"from": "say.audio", "to": "convert.audio"}]})
    errors = plan(doc).errors
    assert [(e.node, e.field) for e in errors] == [("convert", "model")]
    assert "no model named 'no-such-voice' is installed for rvc" in errors[0].message
