"""The one pipeline format (`haysay.pipeline/1`), shared by CLI, studio and notebooks.

    {"format": "haysay.pipeline/1",
     "nodes": [{"id": "tone", "type": "gen.tone", "params": {...}, "position": {"x": 0, "y": 0}}],
     "edges": [{"from": "tone.audio", "to": "gain.audio"}],
     "inputs": {"text": {"bind": "tts.text", "default": "Hello"}},
     "outputs": {"voice": "gain.audio"}}

Positions are optional fields of the same document: there is no second UI format.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

FORMAT = "haysay.pipeline/1"
ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]*$"


class Position(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: int | float  # int stays int, so load -> save is byte-identical
    y: int | float


class NodeDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=ID_PATTERN, max_length=64, description="Unique node id (letters, digits, _ and -)")
    type: str = Field(description="Node type id, e.g. audio.gain")
    params: dict[str, Any] = Field(default_factory=dict)
    position: Position | None = None
    title: str | None = None


class EdgeDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    source: str = Field(alias="from", pattern=r"^[^.]+\.[^.]+$", description="node_id.port")
    target: str = Field(alias="to", pattern=r"^[^.]+\.[^.]+$", description="node_id.port")

    @property
    def source_node(self) -> str:
        return self.source.split(".", 1)[0]

    @property
    def source_port(self) -> str:
        return self.source.split(".", 1)[1]

    @property
    def target_node(self) -> str:
        return self.target.split(".", 1)[0]

    @property
    def target_port(self) -> str:
        return self.target.split(".", 1)[1]


class InputDoc(BaseModel):
    """A named pipeline input bound to a node param (`node.param`) or an input port (`node.port`).

    An input bound to an Audio port takes a file path; one bound to a Text port takes text."""

    model_config = ConfigDict(extra="forbid")
    bind: str = Field(pattern=r"^[^.]+\.[^.]+$", description="node_id.param or node_id.port")
    default: Any = None
    description: str | None = None


class PipelineDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["haysay.pipeline/1"] = FORMAT
    name: str | None = None
    description: str | None = None
    nodes: list[NodeDoc] = Field(default_factory=list)
    edges: list[EdgeDoc] = Field(default_factory=list)
    inputs: dict[str, InputDoc] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict, description="output name -> node_id.port")

    def node(self, node_id: str) -> NodeDoc:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document; fields never set stay absent so load -> save is lossless."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False) + ("\n" if indent else "")

    def content_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")


class PipelineFormatError(ValueError):
    """The document is not a well-formed pipeline; `errors` holds located problems."""

    def __init__(self, errors: list):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


def parse_pipeline(data: str | bytes | dict[str, Any]) -> PipelineDoc:
    """Parse a pipeline document, raising PipelineFormatError with field-level errors."""
    from .errors import GraphError

    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise PipelineFormatError([GraphError("invalid_json", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]) from None
    if not isinstance(data, dict):
        raise PipelineFormatError([GraphError("invalid_json", "a pipeline must be a JSON object")])
    fmt = data.get("format")
    if fmt != FORMAT:
        raise PipelineFormatError([GraphError("format", f"format must be {FORMAT!r}, got {fmt!r}", field="format")])
    try:
        return PipelineDoc.model_validate(data)
    except ValidationError as exc:
        errors = []
        for e in exc.errors():
            loc = list(e["loc"])
            node_id = None
            if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
                raw = data.get("nodes", [])
                if loc[1] < len(raw) and isinstance(raw[loc[1]], dict):
                    node_id = raw[loc[1]].get("id")
            errors.append(GraphError("schema", e["msg"], node=node_id, field=".".join(str(p) for p in loc)))
        raise PipelineFormatError(errors) from None


def load_pipeline(path: str | Path) -> PipelineDoc:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        from .errors import GraphError
        raise PipelineFormatError([GraphError("missing_file", f"pipeline file not found: {path}")]) from None
    except UnicodeDecodeError:
        from .errors import GraphError
        raise PipelineFormatError([GraphError("invalid_json", f"{path} is not UTF-8 text")]) from None
    return parse_pipeline(text)


def pipeline_schema() -> dict[str, Any]:
    """JSON Schema of the pipeline format, generated from the models."""
    schema = PipelineDoc.model_json_schema(by_alias=True)
    schema["$id"] = "https://haysay.dev/schema/pipeline-1.json"
    schema["title"] = "haysay pipeline"
    return schema
