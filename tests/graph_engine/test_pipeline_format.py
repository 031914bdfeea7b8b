"""Pipeline JSON: round trip, schema, format errors located by field."""
import json
from pathlib import Path

import pytest

from haysay.graph_engine import PipelineFormatError, load_pipeline, parse_pipeline, pipeline_schema

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_examples_round_trip_losslessly(path):
    text = path.read_text()
    doc = load_pipeline(path)
    assert doc.to_dict() == json.loads(text)
    assert parse_pipeline(doc.to_json()).to_dict() == doc.to_dict()


def test_round_trip_keeps_absent_fields_absent_and_ints_ints():
    raw = {"format": "haysay.pipeline/1", "nodes": [{"id": "t", "type": "gen.tone", "position": {"x": 3, "y": 4.5}}]}
    assert parse_pipeline(raw).to_dict() == raw


def test_schema_generated_from_models():
    schema = pipeline_schema()
    assert schema["properties"]["format"]["const"] == "haysay.pipeline/1"
    assert {"nodes", "edges", "inputs", "outputs"} <= set(schema["properties"])
    assert "from" in json.dumps(schema["$defs"]["EdgeDoc"])


@pytest.mark.parametrize("text, code, field", [
    ("{not json", "invalid_json", None),
    ("[1, 2]", "invalid_json", None),
    ('{"format": "haysay.pipeline/9"}', "format", "format"),
    ('{"format": "haysay.pipeline/1", "nodes": [{"id": "bad id!", "type": "gen.tone"}]}', "schema", "nodes.0.id"),
    ('{"format": "haysay.pipeline/1", "edges": [{"from": "a", "to": "b.audio"}]}', "schema", "edges.0.from"),
    ('{"format": "haysay.pipeline/1", "nodes": [], "surprise": 1}', "schema", "surprise"),
    ('{"format": "haysay.pipeline/1", "nodes": [{"id": {"from": 1}, "type": "gen.tone"}]}', "schema", "nodes.0.id"),
])
def test_malformed_documents_give_located_errors(text, code, field):
    with pytest.raises(PipelineFormatError) as err:
        parse_pipeline(text)
    assert err.value.errors[0].code == code
    assert err.value.errors[0].field == field


def test_missing_file_is_a_format_error(tmp_path):
    with pytest.raises(PipelineFormatError, match="not found"):
        load_pipeline(tmp_path / "nope.json")


@pytest.mark.parametrize("text, says", [
    ("[" * 100_000 + "]" * 100_000, "nests deeper than 64 levels (at line 1 column 65)"),
    ('{"format": "haysay.pipeline/1", "nodes": [{"id": "t", "type": "gen.tone", "params": {"seed": '
     + "9" * 4300 + "}}]}", "a number of 4300 characters at line 1 column 94"),
    ('{"a": "' + "x" * (17 << 20) + '"}', "a pipeline may be at most 16777216 bytes"),
], ids=["deep", "long-number", "huge"])
def test_pathological_documents_are_located_format_errors(text, says):
    with pytest.raises(PipelineFormatError) as err:
        parse_pipeline(text)
    (e,) = err.value.errors
    assert e.code == "invalid_json" and says in e.message


def test_deep_dict_documents_are_refused_without_recursion():
    deep = {}
    for _ in range(100_000):
        deep = {"x": deep}
    with pytest.raises(PipelineFormatError, match="deeper than 64"):
        parse_pipeline({"format": "haysay.pipeline/1", "nodes": [{"id": "t", "type": "gen.tone", "params": deep}]})


def test_pipeline_path_that_is_not_a_file_says_what_it_is(tmp_path):
    import os
    os.mkfifo(tmp_path / "pipe.json")
    with pytest.raises(PipelineFormatError, match="is a named pipe"):
        load_pipeline(tmp_path / "pipe.json")
    with pytest.raises(PipelineFormatError, match="is a folder"):
        load_pipeline(tmp_path)
    with pytest.raises(PipelineFormatError, match="is a device"):
        load_pipeline("/dev/zero")
