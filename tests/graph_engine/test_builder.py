"""The fluent Python API: JSON equivalence, >> wiring, immediate param validation, runs."""
import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from haysay.graph_engine import AUDIO, TEXT, Engine, InvalidPipeline, Registry, Settings, default_registry, node, parse_pipeline
from haysay.graph_engine.builder import ParamError, Pipeline, WiringError, load

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def chain(name="chain"):
    p = Pipeline(name, description="tone, gain, resample")
    tone = p.add("gen.tone", id="tone", frequency=440, duration=1.0)
    gain = p.add("audio.gain", id="gain", gain_db=-6)
    rs = p.add("audio.resample", id="rs", sample_rate=16000)
    tone >> gain >> rs
    p.input("pitch", tone["frequency"], default=440.0, description="tone frequency")
    p.output("out", rs.audio)
    return p


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = Engine(Settings.from_env(home=tmp_path_factory.mktemp("home")))
    yield eng
    eng.close()


def test_python_build_exports_the_json_the_studio_opens():
    p = chain()
    data = json.loads(p.to_json())
    assert data == {
        "format": "haysay.pipeline/1", "name": "chain", "description": "tone, gain, resample",
        "nodes": [{"id": "tone", "type": "gen.tone", "params": {"frequency": 440.0, "duration": 1.0}},
                  {"id": "gain", "type": "audio.gain", "params": {"gain_db": -6.0}},
                  {"id": "rs", "type": "audio.resample", "params": {"sample_rate": 16000}}],
        "edges": [{"from": "tone.audio", "to": "gain.audio"}, {"from": "gain.audio", "to": "rs.audio"}],
        "inputs": {"pitch": {"bind": "tone.frequency", "default": 440.0, "description": "tone frequency"}},
        "outputs": {"out": "rs.audio"}}
    again = Pipeline.from_doc(parse_pipeline(p.to_json()))
    assert again == p and again.to_json() == p.to_json()
    assert Pipeline.from_doc(data).to_dict() == data


def test_example_json_loads_edits_and_saves(tmp_path):
    src = EXAMPLES / "hello.json"
    p = load(src)
    assert p.to_dict() == json.loads(src.read_text())  # untouched: identical
    p["quiet"].params.gain_db = -3
    fade = p.add("audio.fade", id="fade")
    p["quiet"] >> fade
    p.output("high", fade.audio)
    out = p.save(tmp_path / "edited.json")
    data = json.loads(out.read_text())
    node = {n["id"]: n for n in data["nodes"]}
    assert node["quiet"]["params"] == {"gain_db": -3.0}
    assert node["low"] == json.loads(src.read_text())["nodes"][0]  # other nodes keep their positions and params
    assert {"from": "quiet.audio", "to": "fade.audio"} in data["edges"] and data["outputs"]["high"] == "fade.audio"
    assert Pipeline.load(out) == p and p.validate().ok


def test_auto_ids_and_node_access():
    p = Pipeline()
    a, b = p.add("gen.tone"), p.add("gen.tone")
    assert (a.id, b.id) == ("gen_tone_1", "gen_tone_2")
    p.remove(a)
    assert p.add("gen.tone").id == "gen_tone_1" and len(p) == 2
    with pytest.raises(KeyError, match="no node 'nope'"):
        p["nope"]
    with pytest.raises(ValueError, match="already used"):
        p.add("gen.tone", id="gen_tone_2")
    with pytest.raises(KeyError, match="did you mean audio.gain"):
        p.add("audio.gian")


def test_rshift_chains_and_fills_free_inputs_in_order():
    p = Pipeline()
    a, b, c = (p.add("gen.tone", id=n) for n in "abc")
    mix = p.add("audio.mix", id="mix")
    assert (a >> mix) is not None and (b >> mix).id == "mix"
    assert [(e.source, e.target) for e in p.doc.edges] == [("a.audio", "mix.a"), ("b.audio", "mix.b")]
    with pytest.raises(WiringError, match=r"every input of mix \(audio.mix\) is already fed: mix.a \(Audio\) from a.audio, mix.b \(Audio\) from b.audio"):
        c >> mix
    p.disconnect("a.audio", "mix.a")
    c.audio >> mix.a  # explicit ports
    assert ("c.audio", "mix.a") in [(e.source, e.target) for e in p.doc.edges]
    with pytest.raises(WiringError, match="mix.b is already fed by b.audio"):
        p.connect(a["audio"], mix["b"])


def test_wiring_errors_name_types_ports_and_cycles():
    p = Pipeline()
    text = p.add("text.value", id="txt")
    gain, gain2 = p.add("audio.gain", id="g1"), p.add("audio.gain", id="g2")
    with pytest.raises(WiringError, match=r"text: Text.*audio: Audio"):
        text >> gain
    with pytest.raises(WiringError, match="has no output port 'sound'"):
        p.connect(PortOf(gain, "sound"), gain2)
    gain >> gain2
    with pytest.raises(WiringError, match="cycle"):
        gain2 >> gain
    tts = p.add("tts.espeak", id="tts")
    text >> tts
    assert [(e.source, e.target) for e in p.doc.edges][-1] == ("txt.text", "tts.text")


def PortOf(handle, name):
    from haysay.graph_engine.builder import PortRef
    return PortRef(handle, name)


def test_ambiguous_outputs_need_explicit_ports():
    reg = Registry()
    for spec in default_registry():
        reg.add(spec)

    class NoParams(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def split(params, audio):
        """Two copies of the input."""
        return {"left": audio, "right": audio}
    reg.add(node("test.split", inputs={"audio": AUDIO}, outputs={"left": AUDIO, "right": AUDIO},
                 params=NoParams, registry=reg)(split))
    reg.add(node("test.speak", inputs={"text": TEXT, "audio": AUDIO}, outputs={"audio": AUDIO},
                 params=NoParams, registry=reg)(lambda params, text, audio: audio))
    p = Pipeline(registry=reg)
    tone, sp, gain = p.add("gen.tone"), p.add("test.split", id="sp"), p.add("audio.gain", id="g")
    tone >> sp
    with pytest.raises(WiringError, match=r"ambiguous: sp has several outputs that fit g \(left, right\)"):
        sp >> gain
    sp.right >> gain
    assert p.doc.edges[-1].source == "sp.right"
    speak = p.add("test.speak", id="speak")
    p.add("text.value", id="t") >> speak  # Text finds the Text input though Audio comes second
    assert p.doc.edges[-1].target == "speak.text"


def test_params_are_validated_immediately_with_the_field_named():
    p = Pipeline()
    g = p.add("audio.gain", id="g", gain_db=-3)
    with pytest.raises(ParamError, match=r"g.gain_db: must be between -96.0 and 48.0 dB, got 100") as info:
        g.params.gain_db = 100
    assert info.value.errors[0].field == "gain_db" and g.params.gain_db == -3.0
    with pytest.raises(ParamError, match=r"unknown param for audio.gain \(known: gain_db\)"):
        g.set(gian_db=1)
    with pytest.raises(ParamError, match=r"tone.frequency"):
        p.add("gen.tone", id="tone", frequency=-5)
    assert "tone" not in p
    t = p.add("gen.tone", id="tone", waveform="sweep")
    t.params.duration = 2  # coerced by the model: stored as the JSON the model dumps
    assert t.doc.params == {"waveform": "sweep", "duration": 2.0} and t.params.frequency == 440.0
    del t.params.waveform
    assert t.params.waveform == "sine" and "waveform" not in t.doc.params
    with pytest.raises(AttributeError, match="has no param 'pitch'"):
        t.params.pitch


def test_validate_returns_located_graph_errors():
    p = Pipeline()
    tts = p.add("tts.espeak", id="tts")
    p.add("audio.gain", id="g")
    errors = p.validate()
    assert not errors.ok
    assert {(e.code, e.node, e.port) for e in errors} == {("unconnected_input", "tts", "text"),
                                                           ("unconnected_input", "g", "audio")}
    p.input("text", tts.text, default="Hello")
    tts >> p["g"]
    assert p.validate().ok
    with pytest.raises(WiringError, match="no input port or param 'txt'"):
        p.input("x", "tts.txt")
    with pytest.raises(WiringError, match="has no output port 'text'"):
        p.output("y", "tts.text")


def test_edits_notify_subscribers_and_layout_writes_positions():
    p = chain()
    seen = []
    stop = p.subscribe(lambda pipe: seen.append(len(pipe.doc.edges)))
    p.disconnect("gain.audio", "rs.audio")
    p.layout()
    stop()
    p["tone"].params.duration = 0.5
    assert seen == [1, 1]
    pos = {n.id: n.position for n in p}
    assert pos["tone"][0] < pos["gain"][0] and pos["rs"][0] == pos["tone"][0]
    assert json.loads(p.to_json())["nodes"][0]["position"] == {"x": 0, "y": 0}


def test_run_measures_gain_and_reuses_cache(engine):
    p = chain()
    run = p.run(engine=engine)
    assert run.ok, run.error
    tone, out = run["tone"].audio.numpy()[0], run["rs"].audio
    assert 20 * np.log10(np.abs(run["gain"].audio.numpy()).max() / np.abs(tone).max()) == pytest.approx(-6, abs=0.05)
    assert out.sample_rate == 16000 and out.frames == 16000
    assert all(s.status == "done" and s.worker and s.duration >= 0 for s in run.stages)
    again = p.run(engine=engine, inputs={"pitch": 880.0})
    assert again["tone"].cache_hit is False and again["gain"].cache_hit is False
    x = again.outputs["out"].numpy()[0]
    assert np.argmax(np.abs(np.fft.rfft(x))) * 16000 / len(x) == pytest.approx(880, abs=2)
    assert all(s.cache_hit for s in p.run(engine=engine).stages)
    with pytest.raises(KeyError, match="no stage 'x'"):
        run["x"]


def test_invalid_pipeline_does_not_run(engine):
    p = Pipeline()
    p.add("audio.gain", id="g")
    with pytest.raises(InvalidPipeline, match="g.audio: required input 'audio'"):
        p.run(engine=engine)


def test_default_engine_is_used_when_none_is_given(engine):
    from haysay.graph_engine import builder
    builder.set_default_engine(engine)
    try:
        p = Pipeline()
        p.add("gen.tone", id="t", duration=0.25)
        run = p.run()
        assert run.engine is engine and builder.default_engine() is engine
        assert engine.history.run(run.run_id).status == "succeeded"
    finally:
        builder.set_default_engine(None)


def test_haysay_exports_are_few_and_load_lazily():
    import subprocess
    import sys
    code = ("import sys, haysay; lazy = 'haysay.graph_engine.builder' not in sys.modules; "
            "p = haysay.Pipeline('x'); print(lazy, sorted(haysay.__all__), type(p).__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout.split(" ", 1)
    assert out[0] == "True"
    assert "'Pipeline', 'default_engine', 'load', 'node_types', 'run'" in out[1] and out[1].strip().endswith("haysay.graph_engine.builder")
