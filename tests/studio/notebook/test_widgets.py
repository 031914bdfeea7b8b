"""Widgets, Python side: params form live validation, canvas sync both ways, run progress."""
import json
import struct

import pytest

import haysay
from haysay.graph_engine import Engine, Settings
from haysay.graph_engine.cachekey import cache_key
from haysay.studio.notebook import CanvasWidget, ParamsForm, RunProgress


def two_nodes():
    p = haysay.Pipeline("w")
    tone = p.add("gen.tone", id="tone", duration=0.5)
    gain = p.add("audio.gain", id="gain")
    return p, tone, gain


def test_params_form_is_generated_from_the_model():
    p, tone, _ = two_nodes()
    form = ParamsForm(tone)
    kinds = {name: type(c).__name__ for name, c in form.controls.items()}
    assert kinds["waveform"] == "Dropdown" and kinds["frequency"] == "FloatText" and kinds["channels"] == "IntText"
    assert type(form.sliders["frequency"]).__name__ == "FloatSlider" and type(form.sliders["channels"]).__name__ == "IntSlider"
    assert "seed" not in form.sliders  # no upper bound: a number box alone
    freq = form.sliders["frequency"]
    assert (freq.min, freq.max, form.controls["frequency"].description) == (0.0, 20000.0, "frequency (Hz)")
    assert list(form.controls["waveform"].options) == ["sine", "sweep", "white_noise", "pink_noise", "silence"]
    assert form.controls["duration"].value == 0.5


def bits(x):
    return struct.pack("<d", x)


def world_key(node):
    spec = node.spec
    return cache_key(spec, spec.params(**node.doc.params), {"audio": ("k", "audio")})


def test_showing_a_params_form_changes_nothing():
    # issue 14.2: sliders rounded to 1/1000 of their range and wrote back; -1.5 ran as -1.512
    p = haysay.Pipeline("f")
    conv = p.add("vc.world", id="conv", f0_shift=-1.5, formant_shift=1.1)
    saved, key = p.to_json(), world_key(conv)
    form = ParamsForm(conv)
    for name, value in conv.params.dict().items():
        shown = form.controls[name].value
        assert type(shown) is type(value) and (bits(shown) == bits(value) if isinstance(value, float) else shown == value)
    for slider in form.sliders.values():  # a slider neither echoes its snapped start nor sends while dragged
        assert slider.continuous_update is False and slider.readout is False
    assert all(c.continuous_update is False for c in form.controls.values() if hasattr(c, "continuous_update"))
    form.sliders["f0_shift"].value = -1.5  # released where it was
    form.controls["f0_floor"].value = 50.0  # a box confirmed with its own value
    form.refresh()
    assert p.to_json() == saved and world_key(conv) == key and conv.doc.params == {"f0_shift": -1.5, "formant_shift": 1.1}
    form.sliders["f0_ceil"].value = 900.0  # a user's drag: written as released
    assert conv.doc.params["f0_ceil"] == 900.0 and form.controls["f0_ceil"].value == 900.0
    form.controls["f0_shift"].value = -1.25  # a typed value keeps every digit, the slider follows
    assert bits(conv.doc.params["f0_shift"]) == bits(-1.25) and form.sliders["f0_shift"].value == -1.25
    assert form.sliders["f0_shift"].step == 0.01 and form.sliders["f0_ceil"].step == 1.0  # 48- and 1050-wide ranges


def test_an_int_param_stays_an_int():
    p, tone, _ = two_nodes()
    form = ParamsForm(tone)
    form.controls["channels"].value = 1
    assert "channels" not in tone.doc.params
    form.sliders["channels"].value = 2
    assert tone.doc.params["channels"] == 2 and type(tone.doc.params["channels"]) is int


def test_params_form_validates_live_and_keeps_the_pipeline_valid():
    p, tone, _ = two_nodes()
    form = ParamsForm(tone)
    form.controls["seed"].value = -3
    assert "seed" in form.error.value and "greater than or equal to 0" in form.error.value
    assert "seed" not in tone.doc.params
    form.sliders["frequency"].value = 0.0  # the slider reaches the exclusive bound; the model refuses it
    assert "frequency" in form.error.value and tone.params.frequency == 440.0
    form.controls["frequency"].value = 250.0
    assert form.error.value == "" and tone.doc.params["frequency"] == 250.0
    tone.params.amplitude_db = -20  # an edit from Python shows in the form
    assert form.controls["amplitude_db"].value == -20.0


def test_canvas_python_change_updates_the_traitlet():
    p, tone, gain = two_nodes()
    canvas = CanvasWidget(p)
    assert [n["id"] for n in canvas.doc["nodes"]] == ["tone", "gain"]
    assert [e["node"] for e in canvas.problems] == ["gain"]
    tone >> gain
    gain.params.gain_db = -3
    assert canvas.doc == p.to_dict() and canvas.doc["edges"] == [{"from": "tone.audio", "to": "gain.audio"}]
    assert canvas.problems == [] and canvas.specs["audio.gain"] == {
        "title": "Gain", "category": "transform",
        "inputs": [{"name": "audio", "type": "Audio", "optional": False}], "outputs": [{"name": "audio", "type": "Audio"}]}
    assert canvas.auto_positions["gain"][0] > canvas.auto_positions["tone"][0]


def test_canvas_edit_from_the_front_end_updates_the_pipeline():
    p, tone, gain = two_nodes()
    canvas = CanvasWidget(p)
    doc = canvas.doc
    doc["edges"].append({"from": "tone.audio", "to": "gain.audio"})
    doc["nodes"][1]["position"] = {"x": 300, "y": 40}
    canvas.doc_json = json.dumps(doc)  # what the widget's JS sends after a connect and a drag
    assert p.doc.edges[0].source == "tone.audio" and gain.position == (300, 40)
    assert canvas.error == "" and p.validate().ok and canvas.problems == []


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["edges"].append({"from": "gain.audio", "to": "tone.audio"}), "gen.tone has no input port 'audio'"),
    (lambda d: d["nodes"][1]["params"].update(gain_db=500), "gain.gain_db: must be between"),
    (lambda d: d["nodes"].append({"id": "bad id", "type": "gen.tone"}), "nodes.2.id"),
    (lambda d: d["nodes"].append({"id": "x", "type": "no.such"}), "unknown node type 'no.such'"),
])
def test_canvas_refuses_an_invalid_edit_and_keeps_the_old_doc(edit, message):
    p, tone, gain = two_nodes()
    canvas = CanvasWidget(p)
    before = p.to_dict()
    doc = canvas.doc
    edit(doc)
    canvas.doc_json = json.dumps(doc)
    assert message in canvas.error
    assert p.to_dict() == before and canvas.doc == before  # the front end is sent the old doc back


def test_run_progress_follows_engine_events(tmp_path):
    p, tone, gain = two_nodes()
    tone >> gain
    progress, canvas = RunProgress(p), CanvasWidget(p)
    with Engine(Settings.from_env(home=tmp_path)) as eng:
        p.run(engine=eng, on_event=lambda ev: (progress(ev), canvas.on_event(ev)))
        assert progress.status() == {"tone": "done", "gain": "done"}
        assert all(bar.value == 1.0 for bar, _ in progress.rows.values()) and "2/2" in progress.summary.value
        p.run(engine=eng, on_event=progress)
    assert progress.status() == {"tone": "cached", "gain": "cached"} and {n: s["status"] for n, s in canvas.states.items()} == {"tone": "done", "gain": "done"}
