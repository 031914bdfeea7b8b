"""The one pipeline format (`haysay.pipeline/1`), shared by CLI, studio and notebooks.

    {"format": "haysay.pipeline/1",
     "nodes": [{"id": "tone", "type": "gen.tone", "params": {...}, "position": {"x": 0, "y": 0}}],
     "edges": [{"from": "tone.audio", "to": "gain.audio"}],
     "inputs": {"text": {"bind": "tts.text", "default": "Hello"}},
     "outputs": {"voice": "gain.audio"}}

Positions are optional fields of the same document: there is no second UI format. So are a
node's `mode` ("bypass": not run, its inputs passed through; "mute": it and what needs it are
skipped), an edge's reroute points `via`, and `groups` (titled boxes around nodes).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

FORMAT = "haysay.pipeline/1"
ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]*$"

# Limits on a document before it is parsed: a pipeline is a few kilobytes, so these only stop
# hostile or broken files (100k-deep nesting, 4,300-digit integers) from costing a traceback.
MAX_DOCUMENT_BYTES = 16 << 20
MAX_DEPTH = 64
MAX_NUMBER_CHARS = 100


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
    mode: Literal["normal", "bypass", "mute"] = Field(
        "normal", description="normal; bypass: not run, each output fed by its first input of the same "
                              "type; mute: it and every node that needs it are skipped")


class EdgeDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    source: str = Field(alias="from", pattern=r"^[^.]+\.[^.]+$", description="node_id.port")
    target: str = Field(alias="to", pattern=r"^[^.]+\.[^.]+$", description="node_id.port")
    via: list[Position] | None = Field(None, description="reroute points the wire is drawn through (UI only)")

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


class GroupDoc(BaseModel):
    """A titled box around nodes on the canvas; it changes nothing about how the graph runs."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=ID_PATTERN, max_length=64)
    title: str = ""
    nodes: list[str] = Field(default_factory=list, description="ids of the nodes in the group")
    color: str | None = Field(None, max_length=32, description="CSS colour, e.g. #3b82f6")


class PipelineDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["haysay.pipeline/1"] = FORMAT
    name: str | None = None
    description: str | None = None
    nodes: list[NodeDoc] = Field(default_factory=list)
    edges: list[EdgeDoc] = Field(default_factory=list)
    inputs: dict[str, InputDoc] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict, description="output name -> node_id.port")
    groups: list[GroupDoc] = Field(default_factory=list)

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
        data = _parse_json(data)
    elif _depth(data) > MAX_DEPTH:
        raise PipelineFormatError([GraphError("invalid_json", f"the document nests deeper than {MAX_DEPTH} levels")])
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
                if isinstance(raw, list) and loc[1] < len(raw) and isinstance(raw[loc[1]], dict):
                    node_id = raw[loc[1]].get("id")
                    node_id = node_id if isinstance(node_id, str) else None  # the id itself may be what is wrong
            errors.append(GraphError("schema", e["msg"], node=node_id, field=".".join(str(p) for p in loc)))
        raise PipelineFormatError(errors) from None


class _NumberTooLong(ValueError):
    pass


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    return f"line {line} column {pos - (text.rfind(chr(10), 0, pos) + 1) + 1}"


def _parse_json(data: str | bytes) -> Any:
    """json.loads under the size, depth and number-length limits, every refusal located."""
    from .errors import GraphError

    def fail(message: str) -> PipelineFormatError:
        return PipelineFormatError([GraphError("invalid_json", message)])

    if len(data) > MAX_DOCUMENT_BYTES:
        raise fail(f"the document is {len(data)} bytes; a pipeline may be at most {MAX_DOCUMENT_BYTES} bytes")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise fail(f"not UTF-8 text (byte {exc.start})") from None

    def number(s: str) -> Any:
        if len(s) > MAX_NUMBER_CHARS:
            raise _NumberTooLong(s)
        return int(s) if s.lstrip("-").isdigit() else float(s)

    try:
        parsed = json.loads(data, parse_int=number, parse_float=number)
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except _NumberTooLong as exc:
        pos = data.find(exc.args[0])
        raise fail(f"a number of {len(exc.args[0])} characters at {_where(data, max(pos, 0))}; "
                   f"numbers may have at most {MAX_NUMBER_CHARS}") from None
    except RecursionError:
        parsed = None
    if parsed is None or _depth(parsed) > MAX_DEPTH:
        raise fail(f"the document nests deeper than {MAX_DEPTH} levels (at {_where(data, _deep_at(data))})")
    return parsed


def _depth(value: Any) -> int:
    """Nesting depth of lists and dicts, without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        v, d = todo.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, d)
            if d > MAX_DEPTH:
                return d
            todo += [(x, d + 1) for x in (v.values() if isinstance(v, dict) else v)]
    return deepest


def _deep_at(text: str) -> int:
    """Offset where nesting first passes MAX_DEPTH (brackets inside strings do not count)."""
    depth, in_str, esc = 0, False, False
    for i, ch in enumerate(text):
        if in_str:
            esc, in_str = (False, True) if esc else (ch == "\\", ch != '"')
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return i
        elif ch in "]}":
            depth -= 1
    return 0


def load_pipeline(path: str | Path) -> PipelineDoc:
    path = Path(path)
    from .errors import GraphError
    if path.exists() and not path.is_file():
        raise PipelineFormatError([GraphError("missing_file", f"{path} is {describe_path(path)}, not a pipeline file")])
    if path.is_file() and path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise PipelineFormatError([GraphError("invalid_json", f"{path} is {path.stat().st_size} bytes; a pipeline "
                                                              f"may be at most {MAX_DOCUMENT_BYTES} bytes")])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        from .errors import GraphError
        raise PipelineFormatError([GraphError("missing_file", f"pipeline file not found: {path}")]) from None
    except UnicodeDecodeError:
        from .errors import GraphError
        raise PipelineFormatError([GraphError("invalid_json", f"{path} is not UTF-8 text")]) from None
    return parse_pipeline(text)


def describe_path(path: str | Path) -> str:
    """What is at `path`, in words, for errors about a file that cannot be read as one."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "not found"
    except OSError as exc:
        return f"not readable ({exc.strerror})"
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (fifo)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def pipeline_schema() -> dict[str, Any]:
    """JSON Schema of the pipeline format, generated from the models."""
    schema = PipelineDoc.model_json_schema(by_alias=True)
    schema["$id"] = "https://haysay.dev/schema/pipeline-1.json"
    schema["title"] = "haysay pipeline"
    return schema
