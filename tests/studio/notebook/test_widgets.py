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
    spec = canvas.specs["audio.gain"]
    assert canvas.problems == [] and {k: spec[k] for k in ("title", "category", "inputs", "outputs")} == {
        "title": "Gain", "category": "transform",
        "inputs": [{"name": "audio", "type": "Audio", "optional": False}], "outputs": [{"name": "audio", "type": "Audio"}]}
    assert spec["params"]["properties"]["gain_db"]["unit"] == "dB"
    assert canvas.auto_positions["gain"][0] > canvas.auto_positions["tone"][0]
    assert {"type": "tts.espeak", "title": "eSpeak NG", "category": "tts"} in canvas.palette or \
        "tts.espeak" in {e["type"] for e in canvas.palette}


def front(canvas, **content):
    canvas._message(canvas, content, [])  # what the widget's JS sends


def test_canvas_operations_edit_the_pipeline():
    p, tone, gain = two_nodes()
    canvas = CanvasWidget(p)
    front(canvas, event="ops", ops=[{"op": "connect", "from": "tone.audio", "to": "gain.audio"},
                                    {"op": "move", "id": "gain", "position": {"x": 300, "y": 40}}])
    assert p.doc.edges[0].source == "tone.audio" and gain.position == (300, 40)
    front(canvas, event="ops", ops=[{"op": "set", "id": "gain", "params": {"gain_db": -1.5}}])
    assert gain.doc.params == {"gain_db": -1.5} and canvas.doc == p.to_dict()
    front(canvas, event="ops", ops=[{"op": "add", "type": "audio.fade", "id": "fade", "position": {"x": 600, "y": 40}},
                                    {"op": "connect", "from": "gain.audio", "to": "fade.audio"}])
    assert canvas.error == "" and p.validate().ok and canvas.problems == [] and p["fade"].position == (600, 40)
    assert len(canvas.undo_stack) == 3 and canvas.can_undo


def test_canvas_undo_reverts_canvas_edits_only():
    # issue 14.1: undo restored a saved copy of the document and deleted a node added from Python
    p, tone, gain = two_nodes()
    canvas = CanvasWidget(p)
    front(canvas, event="ops", ops=[{"op": "move", "id": "gain", "position": {"x": 300, "y": 40}}])
    front(canvas, event="ops", ops=[{"op": "set", "id": "gain", "params": {"gain_db": -6}}])
    late = p.add("audio.fade", id="late")  # from Python, between canvas edits
    gain >> late
    tone.params.frequency = 220.0
    front(canvas, event="undo")
    assert "late" in p and gain.doc.params == {} and tone.params.frequency == 220.0
    assert [(e.source, e.target) for e in p.doc.edges] == [("gain.audio", "late.audio")]
    front(canvas, event="undo")
    assert gain.position is None and "late" in p and not canvas.can_undo
    front(canvas, event="redo")
    assert gain.position == (300, 40) and "late" in p
    front(canvas, event="redo")
    assert gain.doc.params == {"gain_db": -6.0} and not canvas.can_redo


@pytest.mark.parametrize("op, message", [
    ({"op": "connect", "from": "gain.audio", "to": "tone.audio"}, "gen.tone) has no input port 'audio'"),
    ({"op": "set", "id": "gain", "params": {"gain_db": 500}}, "gain.gain_db: must be between"),
    ({"op": "add", "type": "gen.tone", "id": "bad id"}, "'bad id' is not an id"),
    ({"op": "add", "type": "no.such"}, "unknown node type 'no.such'"),
    ({"op": "connect", "from": "tone.audio", "to": "gain.audio"}, "already fed by"),
])
def test_a_refused_canvas_edit_is_no_operation(op, message):
    p, tone, gain = two_nodes()
    tone >> gain if op.get("op") == "connect" and op["from"] == "tone.audio" else None
    canvas = CanvasWidget(p)
    front(canvas, event="ops", ops=[{"op": "move", "id": "tone", "position": {"x": 5, "y": 5}}])
    before, steps = p.to_dict(), len(canvas.undo_stack)
    front(canvas, event="ops", ops=[{"op": "move", "id": "gain", "position": {"x": 9, "y": 9}}, op])
    assert message in canvas.error
    assert p.to_dict() == before and canvas.doc == before and len(canvas.undo_stack) == steps  # no undo step taken
    front(canvas, event="undo")  # undoes the move before, not the refused edit
    assert tone.position is None and canvas.error == ""


def test_undoing_an_edit_python_has_since_removed_is_refused():
    p, tone, gain = two_nodes()
    canvas = CanvasWidget(p)
    front(canvas, event="ops", ops=[{"op": "set", "id": "gain", "params": {"gain_db": -6}}])
    p.remove("gain")
    before = p.to_dict()
    front(canvas, event="undo")
    assert "cannot undo" in canvas.error and "gain" in canvas.error and p.to_dict() == before


def test_delete_and_duplicate_on_the_canvas_undo_exactly():
    p, tone, gain = two_nodes()
    tone >> gain
    p.output("out", gain.audio)
    canvas = CanvasWidget(p)
    saved = p.to_json()
    front(canvas, event="ops", ops=[{"op": "duplicate", "ids": ["tone", "gain"]}])
    assert p.node_ids == ["tone", "gain", "tone_2", "gain_2"] and ("tone_2.audio", "gain_2.audio") in [
        (e.source, e.target) for e in p.doc.edges]
    front(canvas, event="ops", ops=[{"op": "remove", "id": "gain"}])
    assert "gain" not in p and p.doc.outputs == {}
    front(canvas, event="undo")
    front(canvas, event="undo")
    assert p.to_json() == saved


def test_modes_groups_and_reroutes_on_the_canvas_are_operations():
    p, tone, gain = two_nodes()
    fade = p.add("audio.fade", id="fade")
    tone >> gain >> fade
    canvas = CanvasWidget(p)
    saved = p.to_json()
    front(canvas, event="ops", ops=[{"op": "mode", "id": "gain", "mode": "bypass"}])  # Ctrl+B on the card
    assert gain.mode == "bypass"
    front(canvas, event="ops", ops=[{"op": "group", "nodes": ["tone", "gain"]}])  # Ctrl+G
    front(canvas, event="ops", ops=[{"op": "rename_group", "id": "group_1", "title": "Voice"}])
    front(canvas, event="ops", ops=[{"op": "via", "from": "gain.audio", "to": "fade.audio",
                                     "via": [{"x": 100, "y": 200}]}])
    assert [(g.id, g.title, g.nodes) for g in p.groups] == [("group_1", "Voice", ["tone", "gain"])]
    assert [(q.x, q.y) for q in p.doc.edges[1].via] == [(100.0, 200.0)]
    late = p.add("audio.gain", id="late")  # from Python meanwhile: undo leaves it
    front(canvas, event="ops", ops=[{"op": "remove", "id": "gain"}])  # it leaves its group and comes back to it
    assert p.groups[0].nodes == ["tone"]
    front(canvas, event="undo")
    assert p.groups[0].nodes == ["tone", "gain"] and gain.mode == "bypass"
    before, steps = p.to_dict(), len(canvas.undo_stack)
    for op, message in (({"op": "mode", "id": "gain", "mode": "loud"}, "mode must be normal, bypass or mute"),
                        ({"op": "ungroup", "id": "group_9"}, "no group 'group_9'"),
                        ({"op": "via", "from": "tone.audio", "to": "fade.audio", "via": []}, "no edge")):
        front(canvas, event="ops", ops=[op])
        assert message in canvas.error and p.to_dict() == before and len(canvas.undo_stack) == steps
    front(canvas, event="ops", ops=[{"op": "ungroup", "id": "group_1"}])
    assert p.groups == []
    for _ in range(5):
        front(canvas, event="undo")
    p.remove(late)
    assert p.to_json() == saved  # every canvas step undone, exactly
    assert p.validate().ok


def test_nodes_added_from_python_land_beside_placed_ones():
    p = haysay.Pipeline("place")
    tone = p.add("gen.tone", id="tone", position=(100, 100))
    p.add("gen.tone", id="other", position=(100, 260))
    canvas = CanvasWidget(p)
    fit = canvas.fit
    gain = p.add("audio.gain", id="gain")
    tone >> gain
    lone = p.add("gen.tone", id="lone")
    pos = canvas.auto_positions
    assert pos["gain"] == [360.0, 100.0]  # right of its source, in its row
    boxes = [(100, 100), (100, 260), tuple(pos["gain"])]
    assert all(abs(pos["lone"][0] - x) >= 220 or abs(pos["lone"][1] - y) >= 130 for x, y in boxes)
    assert canvas.fit > fit  # the canvas fits its view after nodes arrive from Python
    fit = canvas.fit
    front(canvas, event="ops", ops=[{"op": "add", "type": "audio.fade", "position": {"x": 0, "y": 0}}])
    assert canvas.fit == fit  # a node placed on the canvas does not move the view
    assert lone.position is None  # drawing positions are not written into the document


def test_play_button_shows_the_stage_in_the_output(tmp_path):
    p, tone, gain = two_nodes()
    tone >> gain
    canvas = CanvasWidget(p)
    with Engine(Settings.from_env(home=tmp_path)) as eng:
        run = p.run(engine=eng)
        canvas.on_play(run)  # the docstring's example
        front(canvas, event="play", node="gain", port="audio")
        outputs = canvas.output.outputs
        assert len(outputs) == 1 and "<audio controls" in outputs[0]["data"]["text/html"]
        canvas.on_play(lambda node, port: run[node].play())
        front(canvas, event="play", node="tone", port="audio")
        assert 'title="tone"' in canvas.output.outputs[-1]["data"]["text/html"]


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
