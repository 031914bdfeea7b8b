"""The transform nodes are built in, documented, and their params carry ranges, units and descriptions."""
from __future__ import annotations

import pytest

from haysay.graph_engine.contract import default_registry

TRANSFORMS = ["audio.to_mono", "audio.peak_normalize", "audio.loudness_normalize", "audio.trim_silence", "audio.fade",
              "audio.pitch_shift", "audio.time_stretch", "audio.speed", "audio.filter", "audio.eq", "audio.noise_gate",
              "audio.denoise", "audio.mix", "audio.concat", "audio.pad_crop"]
UNITLESS = {"audio.eq.q"}  # a ratio (centre frequency / bandwidth)
BLOCKWISE = {"audio.to_mono", "audio.speed", "audio.filter", "audio.eq", "audio.noise_gate", "audio.mix"}


@pytest.mark.parametrize("type_id", TRANSFORMS)
def test_node_is_registered_and_described(type_id):
    spec = default_registry()[type_id]
    info = spec.describe()
    assert info["category"] == "transform" and len(info["description"]) > 20
    assert info["blockwise"] == (type_id in BLOCKWISE)
    schema = info["params_schema"]
    assert schema.get("additionalProperties") is False
    for name, field in schema["properties"].items():
        assert field.get("description"), f"{type_id}.{name} has no description"
        numeric = field.get("type") in ("number", "integer") or any(
            o.get("type") in ("number", "integer") for o in field.get("anyOf", []))
        if numeric and field.get("type") == "number" and f"{type_id}.{name}" not in UNITLESS:
            assert "unit" in field, f"{type_id}.{name} has no unit"
