"""Editing rules of the studio's pipeline model, checked against the engine."""
from __future__ import annotations

import numpy as np
import pytest

from haysay.graph_engine import Engine, Settings, parse_pipeline
from haysay.studio.graph_model import COLUMN_GAP, GraphModel, edge_id


@pytest.fixture
def model():
    return GraphModel()


def test_type_mismatch_is_refused_with_both_types(model):
    text = model.add_node("text.value")
    gain = model.add_node("audio.gain")
    reason = model.connect(text, "text", gain, "audio")
    assert "type mismatch" in reason and "Text" in reason and "Audio" in reason
    assert model.edges() == []


def test_input_already_fed_is_refused_naming_the_feeder(model):
    a, b, g = model.add_node("gen.tone"), model.add_node("gen.tone"), model.add_node("audio.gain")
    assert model.connect(a, "audio", g, "audio") is None
    reason = model.connect(b, "audio", g, "audio")
    assert f"already fed by {a}.audio" in reason
    assert len(model.edges()) == 1


def test_cycle_and_unknown_port_are_refused(model):
    g1, g2 = model.add_node("audio.gain"), model.add_node("audio.gain")
    assert model.connect(g1, "audio", g2, "audio") is None
    assert "cycle" in model.connect(g2, "audio", g1, "audio")
    assert "no output port 'nope'" in model.connect(g1, "nope", g2, "audio")
    assert "cannot feed itself" in model.connect(g1, "audio", g1, "audio")


def test_undo_redo_walk_back_and_forth(model):
    t = model.add_node("gen.tone")
    g = model.add_node("audio.gain")
    model.connect(t, "audio", g, "audio")
    model.set_param(g, "gain_db", -6.0)
    assert model.node(g)["params"] == {"gain_db": -6.0}
    assert model.undo() and model.node(g)["params"] == {}
    assert model.undo() and model.edges() == []
    assert model.undo() and model.node_ids() == [t]
    assert model.redo() and model.redo() and len(model.edges()) == 1
    model.add_node("audio.gain")  # a new edit drops the redo branch
    assert not model.can_redo


def test_modes_groups_and_reroutes_are_undoable_document_edits(model):
    t, g = model.add_node("gen.tone"), model.add_node("audio.gain")
    model.connect(t, "audio", g, "audio")
    steps = len(model._undo)
    assert model.set_mode([g, "nope"], "bypass") and model.node(g)["mode"] == "bypass"
    assert not model.set_mode([g], "bypass") and not model.set_mode([g], "loud")  # no change, no step
    assert model.set_mode([g], None) and "mode" not in model.node(g)
    gid = model.group([t, g, "nope"])
    assert model.groups() == [{"id": "group_1", "title": "Group 1", "nodes": [t, g], "color": "#7e57c2"}]
    assert model.group_of(g)["id"] == gid and model.group(["nope"]) is None
    assert model.rename_group(gid, "Voice") and model.groups()[0]["title"] == "Voice"
    assert not model.rename_group("group_9", "x") and model.ungroup(gid) and "groups" not in model.doc
    wire = edge_id(t, "audio", g, "audio")
    assert model.set_via(wire, [{"x": 10.0, "y": 20.0}]) and not model.set_via("a.b->c.d", [])
    assert model.set_via(wire, []) and "via" not in model.doc["edges"][0]
    assert len(model._undo) == steps + 7  # one step per change, none for the refused ones
    assert model.undo() and model.doc["edges"][0]["via"] == [{"x": 10.0, "y": 20.0}]
    doc = parse_pipeline(model.to_json())  # what the engine reads back
    assert doc.edges[0].via is not None


def test_remove_node_takes_its_edges_and_outputs(model):
    t, g = model.add_node("gen.tone"), model.add_node("audio.gain")
    model.connect(t, "audio", g, "audio")
    model.set_output("out", g, "audio")
    assert model.remove(nodes=[g])
    assert model.node_ids() == [t] and model.edges() == [] and model.doc["outputs"] == {}
    model.undo()
    assert model.remove(edges=[edge_id(t, "audio", g, "audio")])
    assert model.node_ids() == [t, g] and model.edges() == []


def test_duplicate_copies_params_and_inner_edges(model):
    t, g = model.add_node("gen.tone"), model.add_node("audio.gain")
    model.set_param(t, "frequency", 330.0)
    model.connect(t, "audio", g, "audio")
    new = model.duplicate([t, g])
    assert len(new) == 2 and set(new).isdisjoint({t, g})
    assert model.node(new[0])["params"] == {"frequency": 330.0}
    assert (new[0], "audio", new[1], "audio") in model.edges()
    assert model.node(new[0])["position"]["x"] == model.node(t)["position"]["x"] + 40


def test_layout_puts_columns_by_topological_depth(model):
    doc = parse_pipeline({"format": "haysay.pipeline/1", "nodes": [
        {"id": "g2", "type": "audio.gain"}, {"id": "src", "type": "gen.tone"}, {"id": "g1", "type": "audio.gain"}],
        "edges": [{"from": "src.audio", "to": "g1.audio"}, {"from": "g1.audio", "to": "g2.audio"}]})
    model.load(doc)
    xs = {n: model.node(n)["position"]["x"] for n in ("src", "g1", "g2")}
    assert xs == {"src": 0.0, "g1": COLUMN_GAP, "g2": 2 * COLUMN_GAP}


def test_free_spot_skips_occupied_places(model):
    model.add_node("gen.tone", 0, 0)
    assert model.free_spot(10, 10) == (10 + COLUMN_GAP, 10)


def test_export_runs_headless_with_identical_keys_and_samples(model, haysay_home):
    t, g = model.add_node("gen.tone", 0, 0), model.add_node("audio.gain", 300, 0)
    model.set_param(t, "duration", 0.25)
    model.set_param(g, "gain_db", -6.0)
    model.connect(t, "audio", g, "audio")
    exported = model.to_json()
    doc = parse_pipeline(exported)
    assert doc.node(g).position.x == 300.0  # positions ride in the same format
    with Engine(settings=Settings.from_env(), processes=False) as eng:
        first = eng.run(model.to_doc())
        second = eng.run(doc)
        assert second.cached == [t, g]  # same cache keys: nothing recomputed
        assert {n: s.cache_key for n, s in first.stages.items()} == {n: s.cache_key for n, s in second.stages.items()}
        out = eng.store.open(second.stages[g].cache_key)["audio"].numpy()
        src = eng.store.open(second.stages[t].cache_key)["audio"].numpy()
    np.testing.assert_allclose(out, src * 10 ** (-6 / 20), rtol=1e-5)
