"""Params form specs derived from node JSON Schemas."""
from __future__ import annotations

from haysay.graph_engine import default_registry
from haysay.studio.forms import coerce, field_specs


def _specs(type_id):
    spec = default_registry()[type_id]
    return {s.name: s for s in field_specs(spec.params.model_json_schema(), spec.file_fields())}


def test_number_field_carries_range_unit_and_description():
    gain = _specs("audio.gain")["gain_db"]
    assert (gain.kind, gain.minimum, gain.maximum, gain.unit, gain.default) == ("number", -96.0, 48.0, "dB", 0.0)
    assert "Level change in decibels" in gain.hint and "[-96 … 48] dB" in gain.hint


def test_exclusive_bounds_and_enum_and_integer():
    tone = _specs("gen.tone")
    assert tone["frequency"].hint.endswith("(0 … 20000] Hz")
    assert tone["waveform"].kind == "select" and "sweep" in tone["waveform"].options
    assert tone["channels"].kind == "integer" and (tone["channels"].minimum, tone["channels"].maximum) == (1, 8)


def test_textarea_file_and_nullable_fields():
    assert _specs("text.value")["text"].kind == "textarea"
    load = _specs("audio.load")["path"]
    assert load.file and load.required and load.kind == "text"
    depth = _specs("audio.save")["depth"]
    assert depth.kind == "select" and depth.nullable and "24" in depth.options


def test_coerce_clears_and_converts():
    spec = _specs("gen.tone")["channels"]
    assert coerce(spec, 2.0) == 2 and isinstance(coerce(spec, 2.0), int)
    assert coerce(spec, None) is None and coerce(spec, "") is None
