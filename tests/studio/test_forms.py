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


def test_labels_are_written_titles_or_readable_names():
    from haysay.studio.forms import label_for

    assert label_for("target_lufs", "Target Lufs", "LUFS") == "Target loudness"  # curated over pydantic's
    assert label_for("gain_db", "Gain Db", "dB") == "Gain"  # the unit shows beside the label
    assert label_for("noise_w", "Noise W") == "Noise width"
    assert label_for("cutoff_hz", "Cutoff Hz") == "Cutoff Hz"
    assert label_for("f0_method", "F0 Method") == "F0 method"
    assert label_for("seed", "Seed") == "Seed" and label_for("x", "A written title") == "A written title"
    piper = _specs("tts.piper")
    assert piper["noise_w"].label == "Noise width" and piper["length_scale"].label == "Length scale"
    generated = [s.label for t in ("audio.loudness_normalize", "audio.gain", "gen.tone") for s in _specs(t).values()]
    assert not [lab for lab in generated if lab != lab[:1] + lab[1:].lower() and " " in lab
                and not any(w in lab for w in ("LUFS", "dB", "Hz", "F0", "RMS"))], generated


def test_number_text_parses_or_names_the_problem():
    from haysay.studio.forms import parse_number

    tone = _specs("gen.tone")
    assert parse_number(tone["frequency"], "440") == (440.0, None)
    assert parse_number(tone["frequency"], " 1e3 ") == (1000.0, None)
    assert parse_number(tone["frequency"], "") == (None, None)  # cleared: back to the default
    assert parse_number(tone["frequency"], "abc") == (None, "'abc' is not a number")
    assert parse_number(tone["frequency"], "nan")[1] == "must be a finite number"
    assert parse_number(tone["channels"], "2") == (2, None)
    assert parse_number(tone["channels"], "2.5") == (None, "2.5 is not a whole number")
