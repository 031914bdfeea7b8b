"""The fluent Python API: build, wire, validate and run pipelines in a few lines.

    p = Pipeline("demo")
    tts = p.add("tts.espeak", rate=160)          # id auto-generated: tts_espeak_1
    norm = p.add("audio.loudness_normalize", id="norm")
    tts >> norm                                   # first compatible output -> first free input
    p.input("text", tts.text, default="Hello")
    p.output("voice", norm.audio)
    run = p.run()
    run["norm"].audio

A `Pipeline` wraps one `PipelineDoc`: every call edits that document, so
whatever is built here is exactly the JSON the studio and CLI open, and a
document loaded from JSON can be edited here and saved back unchanged
elsewhere. Runs come back as `PipelineRun` (run_view.py).
"""
from __future__ import annotations

import difflib
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import networkx as nx

from .contract import NodeSpec, Registry, default_registry
from .engine import Engine, StageEvent
from .errors import GraphError, InvalidPipeline
from .graph import plan, validate_params
from .pipeline import (FORMAT, EdgeDoc, GroupDoc, InputDoc, NodeDoc, PipelineDoc, Position, load_pipeline,
                       parse_pipeline)
from .run_view import (DISPLAYS, Comparison, Displayable, PipelineRun, Player, Stage, ValidationReport,
                       default_engine, set_default_engine)
from .values import PortType


_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")  # NodeDoc's id pattern


@contextmanager
def _located(node: str | None = None, prefix: str = ""):
    """Turn a pydantic ValidationError from building a document part into a located InvalidPipeline."""
    from pydantic import ValidationError
    try:
        yield
    except ValidationError as exc:
        first: dict[str, str] = {}  # one message per field: a union's branches each add their own
        for e in exc.errors():
            first.setdefault(prefix + str(e["loc"][0]) if e["loc"] else prefix.rstrip("."), e["msg"])
        raise InvalidPipeline([GraphError("schema", msg, node=node, field=loc or None)
                               for loc, msg in first.items()]) from None


class WiringError(ValueError):
    """A connection that cannot be made (incompatible, ambiguous or already fed)."""


class ParamError(InvalidPipeline):
    """Params rejected by a node's pydantic model; `errors` names each field."""

    def __init__(self, errors: list[GraphError]):
        super().__init__(errors)
        self.args = ("invalid params:\n" + "\n".join(f"  - {e}" for e in self.errors),)


# -- references to ports and params -----------------------------------------------------
class PortRef:
    """`node.port`: one end of an edge. Which side (output or input) follows from use."""

    def __init__(self, node: "NodeHandle", name: str):
        self.node, self.name = node, name

    def __rshift__(self, other: "PortRef | NodeHandle") -> "NodeHandle":
        return self.node.pipeline._wire(self, other)

    def __str__(self) -> str:
        return f"{self.node.id}.{self.name}"

    def __repr__(self) -> str:
        return f"<port {self}>"


class ParamRef:
    """`node["param"]`: a param a pipeline input can bind to."""

    def __init__(self, node: "NodeHandle", name: str):
        self.node, self.name = node, name

    def __str__(self) -> str:
        return f"{self.node.id}.{self.name}"

    def __repr__(self) -> str:
        return f"<param {self}>"


def param_rows(spec: NodeSpec) -> list[dict[str, Any]]:
    """One row per param: name, type, default (or "required"), min, max, unit, description.

    The same details `haysay nodes` prints; `help(node.params)`, the notebook's node
    catalog and `Params`' rich display are made from them."""
    rows = []
    props = spec.params.model_json_schema().get("properties", {})
    for name, f in spec.params.model_fields.items():
        prop = props.get(name, {})
        lo = prop.get("minimum", prop.get("exclusiveMinimum"))
        hi = prop.get("maximum", prop.get("exclusiveMaximum"))
        kind = prop.get("type") or ("enum" if "enum" in prop else "any")
        if "enum" in prop:
            kind = " | ".join(repr(v) for v in prop["enum"])
        rows.append({"param": name, "type": kind,
                     "default": "required" if f.is_required() else f.get_default(call_default_factory=True),
                     "min": lo, "max": hi, "unit": prop.get("unit"), "description": f.description or ""})
    return rows


def _param_line(row: dict[str, Any]) -> str:
    rng = "" if row["min"] is None and row["max"] is None else \
        f", range {'' if row['min'] is None else row['min']}..{'' if row['max'] is None else row['max']}"
    unit = f" {row['unit']}" if row["unit"] else ""
    default = "required" if row["default"] == "required" else f"default {row['default']!r}"
    return f"{row['param']} ({row['type']}): {default}{rng}{unit}\n    {row['description']}".rstrip()


def params_doc(spec: NodeSpec) -> str:
    """The docstring of `node.params` for one node type: every field with default, range, unit, description."""
    lines = [f"Params of {spec.type} ({spec.title}). Read `params.x`; assigning validates at once.", ""]
    if spec.description:
        lines += [spec.description.strip(), ""]
    lines += [_param_line(r) for r in param_rows(spec)] or ["(no params)"]
    return "\n".join(lines)


_PARAMS_CLASSES: dict[tuple[str, int], type] = {}


def _params_class(spec: NodeSpec) -> type:
    # a class per node type, so help(conv.params) shows that node's own fields rather than a generic class
    key = (spec.type, id(spec.params))
    cls = _PARAMS_CLASSES.get(key)
    if cls is None:
        name = "".join(part.title() for part in spec.type.replace("-", "_").replace(".", "_").split("_")) + "Params"
        cls = type(name, (Params,), {"__doc__": params_doc(spec), "__module__": __name__})
        _PARAMS_CLASSES[key] = cls
    return cls


class Params:
    """`node.params`: read a param (the set value or the model's default); assigning validates at once."""

    def __init__(self, handle: "NodeHandle"):
        object.__setattr__(self, "_h", handle)

    def __getattr__(self, name: str) -> Any:
        h = self._h
        if name in h.doc.params:
            return h.doc.params[name]
        fields = h.spec.params.model_fields
        if name not in fields:
            raise AttributeError(f"{h.type} has no param {name!r} (it has: {', '.join(fields) or 'none'})")
        return fields[name].get_default(call_default_factory=True)

    def __setattr__(self, name: str, value: Any) -> None:
        self._h.set(**{name: value})

    def __delattr__(self, name: str) -> None:
        self._h.reset(name)

    def __dir__(self) -> list[str]:
        return list(self._h.spec.params.model_fields)

    def dict(self) -> dict[str, Any]:
        """Every param with its effective value (defaults filled in)."""
        return {name: getattr(self, name) for name in self._h.spec.params.model_fields}

    def __repr__(self) -> str:
        return f"<params of {self._h.id}: {self.dict()}>"

    def _repr_html_(self) -> str:
        import html
        values = self.dict()
        cells = "".join(
            f"<tr><td><code>{html.escape(r['param'])}</code></td><td>{html.escape(repr(values[r['param']]))}</td>"
            f"<td>{html.escape(_param_line(r).split(': ', 1)[1].split(chr(10))[0])}</td>"
            f"<td>{html.escape(r['description'])}</td></tr>" for r in param_rows(self._h.spec))
        return (f"<b>{html.escape(self._h.id)}</b> <code>{html.escape(self._h.type)}</code><table>"
                "<tr><th>param</th><th>value</th><th>default, range, unit</th><th>description</th></tr>"
                + cells + "</table>")


class NodeHandle:
    """One node of a pipeline. `node.audio` / `node["audio"]` is a port, `node.params.x` a param."""

    _OWN = {"pipeline", "id"}

    def __init__(self, pipeline: "Pipeline", node_id: str):
        self.pipeline, self.id = pipeline, node_id
        # an attribute, not a property: IPython's completer reads it without running code (conv.params.f0<Tab>)
        spec = pipeline.registry.get(pipeline.doc.node(node_id).type)
        self.params: Params = (_params_class(spec) if spec is not None else Params)(self)

    @property
    def doc(self) -> NodeDoc:
        return self.pipeline.doc.node(self.id)

    @property
    def type(self) -> str:
        return self.doc.type

    @property
    def spec(self) -> NodeSpec:
        spec = self.pipeline.registry.get(self.type)
        if spec is None:
            raise KeyError(f"{self.id}: unknown node type {self.type!r}")
        return spec


    def __dir__(self) -> list[str]:
        # tab completion: the node's ports beside its methods (params are under .params)
        spec = self.pipeline.registry.get(self.type)
        ports = list(dict.fromkeys([*spec.inputs, *spec.outputs])) if spec is not None else []
        return sorted({*ports, *(n for n in type(self).__dict__ if not n.startswith("_")),
                       *(n for n in NodeHandle.__dict__ if not n.startswith("_")), "id", "pipeline"})

    def _ipython_key_completions_(self) -> list[str]:
        spec = self.spec
        return list(dict.fromkeys([*spec.inputs, *spec.outputs, *spec.params.model_fields]))

    @property
    def position(self) -> tuple[float, float] | None:
        pos = self.doc.position
        return (pos.x, pos.y) if pos else None

    def move(self, x: float, y: float) -> "NodeHandle":
        with _located(self.id, "position."):
            pos = Position(x=x, y=y)
        self.pipeline._edit_node(self.id, position=pos)
        return self

    def set(self, **params: Any) -> "NodeHandle":
        """Set params, validated against the node's model now; raises ParamError naming the field."""
        merged = {**self.doc.params, **params}
        model, errors = validate_params(self.id, self.spec, merged)
        if errors:
            raise ParamError(errors)
        dumped = model.model_dump(mode="json")
        self.pipeline._edit_node(self.id, params={**self.doc.params, **{k: dumped[k] for k in params}})
        return self

    @property
    def mode(self) -> str:
        """normal, bypass (not run: its inputs pass through) or mute (it and what needs it are skipped)."""
        return self.doc.mode

    def bypass(self) -> "NodeHandle":
        """Leave the node out of runs, each output fed by its first input of the same type."""
        return self._set_mode("bypass")

    def mute(self) -> "NodeHandle":
        """Skip the node, and every node that needs it, in runs; the run still succeeds."""
        return self._set_mode("mute")

    def unmute(self) -> "NodeHandle":
        """Back to normal from mute or bypass."""
        return self._set_mode("normal")

    def _set_mode(self, mode: str) -> "NodeHandle":
        node = self.doc.model_copy(update={"mode": mode})
        if mode == "normal":  # the default stays absent from the document
            node.__pydantic_fields_set__.discard("mode")
        self.pipeline._replace(nodes=[node if n.id == self.id else n for n in self.pipeline.doc.nodes])
        return self

    def reset(self, *names: str) -> "NodeHandle":
        """Forget set values so the model's defaults apply again."""
        self.pipeline._edit_node(self.id, params={k: v for k, v in self.doc.params.items() if k not in names})
        return self

    def __getitem__(self, name: str) -> PortRef | ParamRef:
        spec = self.spec
        if name in spec.inputs or name in spec.outputs:
            return PortRef(self, name)
        if name in spec.params.model_fields:
            return ParamRef(self, name)
        known = [*spec.inputs, *(o for o in spec.outputs if o not in spec.inputs), *spec.params.model_fields]
        raise KeyError(f"{self.id} ({self.type}) has no port or param {name!r} (it has: {', '.join(known)})")

    def __getattr__(self, name: str) -> PortRef:
        if name.startswith("_"):
            raise AttributeError(name)
        spec = self.pipeline.registry.get(self.pipeline.doc.node(self.id).type)
        if spec is not None and (name in spec.inputs or name in spec.outputs):
            return PortRef(self, name)
        raise AttributeError(f"{self.id} has no port {name!r}; params are under .params, e.g. {self.id}.params.x")

    def __rshift__(self, other: "PortRef | NodeHandle") -> "NodeHandle":
        return self.pipeline._wire(self, other)

    def __repr__(self) -> str:
        return f"<node {self.id} ({self.type}) {self.doc.params}>"


# -- the pipeline -----------------------------------------------------------------------
class Pipeline(Displayable):
    """A pipeline under construction: a thin, validating editor of one `PipelineDoc`."""

    def __init__(self, name: str | None = None, *, description: str | None = None,
                 registry: Registry | None = None, doc: PipelineDoc | None = None):
        self.registry = registry or default_registry()
        if doc is None:
            fields = {"format": FORMAT, "nodes": [], "edges": []}
            if name is not None:
                fields["name"] = name
            if description is not None:
                fields["description"] = description
            doc = PipelineDoc(**fields)
        self._doc = doc
        self._listeners: list[Callable[["Pipeline"], None]] = []
        _install_completer(self.registry)

    def _ipython_key_completions_(self) -> list[str]:
        return self.node_ids  # p["no<Tab>

    # document in and out
    @property
    def doc(self) -> PipelineDoc:
        return self._doc

    @doc.setter
    def doc(self, doc: PipelineDoc) -> None:
        self._doc = doc
        self._changed()

    @classmethod
    def from_doc(cls, doc: PipelineDoc | Mapping[str, Any] | str, registry: Registry | None = None) -> "Pipeline":
        if not isinstance(doc, PipelineDoc):
            doc = parse_pipeline(doc if isinstance(doc, (str, bytes)) else dict(doc))
        return cls(registry=registry, doc=doc.model_copy(deep=True))

    @classmethod
    def load(cls, path: str | Path, registry: Registry | None = None) -> "Pipeline":
        return cls(registry=registry, doc=load_pipeline(path))

    def to_dict(self) -> dict[str, Any]:
        return self._doc.to_dict()

    def to_json(self, indent: int | None = 2) -> str:
        return self._doc.to_json(indent)

    def save(self, path: str | Path) -> Path:
        self._doc.save(path)
        return Path(path)

    def copy(self) -> "Pipeline":
        return Pipeline(registry=self.registry, doc=self._doc.model_copy(deep=True))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pipeline) and self.to_dict() == other.to_dict()

    __hash__ = None  # mutable

    @property
    def name(self) -> str | None:
        return self._doc.name

    # change notification (widgets keep themselves in sync through this)
    def subscribe(self, listener: Callable[["Pipeline"], None]) -> Callable[[], None]:
        """Call `listener(pipeline)` after every edit; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener(self)

    def _replace(self, **fields: Any) -> None:
        # assigning (never mutating in place) marks the field as set, so it is exported
        for k, v in fields.items():
            setattr(self._doc, k, v)
            if k == "groups" and not v:  # no groups left: none in the saved JSON either
                self._doc.__pydantic_fields_set__.discard(k)
        self._changed()

    def _edit_node(self, node_id: str, **fields: Any) -> None:
        nodes = []
        for n in self._doc.nodes:
            if n.id == node_id:
                n = n.model_copy()
                for k, v in fields.items():
                    setattr(n, k, v)
            nodes.append(n)
        self._replace(nodes=nodes)

    # nodes
    def add(self, type: str, id: str | None = None, *, position: tuple[float, float] | None = None,
            title: str | None = None, **params: Any) -> NodeHandle:
        """Add a node of `type`; params are validated now. `id` defaults to e.g. `tts_piper_1`."""
        if type not in self.registry:
            close = difflib.get_close_matches(type, self.registry.types(), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else " (see haysay.node_types())"
            raise KeyError(f"unknown node type {type!r}{hint}")
        node_id = id or self._fresh_id(type)
        if not isinstance(node_id, str) or not _ID.match(node_id):
            raise InvalidPipeline([GraphError(
                "schema", f"node id {node_id!r} is not an id: use letters, digits, _ and -, starting with a letter "
                "or _ (e.g. 'norm_2')", field="id")])
        if any(n.id == node_id for n in self._doc.nodes):
            raise InvalidPipeline([GraphError("duplicate_id", f"node id {node_id!r} is already used in this pipeline",
                                              node=node_id, field="id")])
        spec = self.registry[type]
        model, errors = validate_params(node_id, spec, params)
        if errors:
            raise ParamError(errors)
        dumped = model.model_dump(mode="json")
        fields: dict[str, Any] = {"id": node_id, "type": type, "params": {k: dumped[k] for k in params}}
        if position is not None:
            with _located(node_id, "position."):
                if len(position) != 2:
                    raise InvalidPipeline([GraphError("schema", "position is (x, y)", node=node_id, field="position")])
                fields["position"] = Position(x=position[0], y=position[1])
        if title is not None:
            fields["title"] = title
        with _located(node_id):
            new = NodeDoc(**fields)
        self._replace(nodes=[*self._doc.nodes, new])
        return NodeHandle(self, node_id)

    def _fresh_id(self, type: str) -> str:
        stem = type.replace(".", "_").replace("-", "_")
        used = {n.id for n in self._doc.nodes}
        i = 1
        while f"{stem}_{i}" in used:
            i += 1
        return f"{stem}_{i}"

    def node(self, node_id: str) -> NodeHandle:
        self._doc.node(node_id)  # KeyError when absent
        return NodeHandle(self, node_id)

    def __getitem__(self, node_id: str) -> NodeHandle:
        try:
            return self.node(node_id)
        except KeyError:
            raise KeyError(f"no node {node_id!r} (nodes: {', '.join(self.node_ids) or 'none'})") from None

    def __contains__(self, node_id: str) -> bool:
        return node_id in self.node_ids

    def __iter__(self) -> Iterator[NodeHandle]:
        return (NodeHandle(self, n.id) for n in self._doc.nodes)

    def __len__(self) -> int:
        return len(self._doc.nodes)

    @property
    def node_ids(self) -> list[str]:
        return [n.id for n in self._doc.nodes]

    def remove(self, node: NodeHandle | str) -> None:
        """Remove a node with its edges, inputs and outputs."""
        nid = node.id if isinstance(node, NodeHandle) else node
        self[nid]
        d = self._doc
        fields = {"nodes": [n for n in d.nodes if n.id != nid],
                  "edges": [e for e in d.edges if nid not in (e.source_node, e.target_node)],
                  "inputs": {k: v for k, v in d.inputs.items() if v.bind.split(".", 1)[0] != nid},
                  "outputs": {k: v for k, v in d.outputs.items() if v.split(".", 1)[0] != nid},
                  "groups": [g.model_copy(update={"nodes": [n for n in g.nodes if n != nid]}) for g in d.groups
                             if g.nodes != [nid]]}
        # only what changed is assigned: an untouched empty `inputs` stays out of the saved JSON
        self._replace(**{k: v for k, v in fields.items() if k == "nodes" or len(v) != len(getattr(d, k))
                         or (k == "groups" and v != d.groups)})

    # wiring
    def connect(self, source: PortRef | NodeHandle, target: PortRef | NodeHandle) -> NodeHandle:
        """Add an edge; node handles pick their first compatible port. Returns the target node."""
        return self._wire(source, target)

    def disconnect(self, source: PortRef | str, target: PortRef | str) -> None:
        pair = (str(source), str(target))
        edges = [e for e in self._doc.edges if (e.source, e.target) != pair]
        if len(edges) == len(self._doc.edges):
            raise KeyError(f"no edge {pair[0]} -> {pair[1]}")
        self._replace(edges=edges)

    def reroute(self, source: PortRef | str, target: PortRef | str, via: list | None) -> None:
        """Draw the wire source -> target through `via` points [(x, y), ...]; None or [] straightens it.
        Only the canvas reads it: runs and cache keys do not change."""
        pair = (str(source), str(target))
        points = [Position(x=float(p[0]), y=float(p[1])) if not isinstance(p, (dict, Position))
                  else Position.model_validate(p) for p in via or []] or None
        if not any((e.source, e.target) == pair for e in self._doc.edges):
            raise KeyError(f"no edge {pair[0]} -> {pair[1]}")
        edges = []
        for e in self._doc.edges:
            if (e.source, e.target) == pair:
                e = EdgeDoc(source=e.source, target=e.target, **({"via": points} if points else {}))
            edges.append(e)
        self._replace(edges=edges)

    # canvas groups: titled boxes around nodes (they change nothing about how the graph runs)
    @property
    def groups(self) -> list[GroupDoc]:
        return [g.model_copy() for g in self._doc.groups]

    def group(self, *nodes: NodeHandle | str, title: str = "", color: str | None = None,
              id: str | None = None) -> str:
        """Put `nodes` in a new group; returns its id (group_1, group_2, ... unless given)."""
        ids = [n.id if isinstance(n, NodeHandle) else str(n) for n in nodes]
        if not ids:
            raise WiringError("a group needs at least one node")
        for nid in ids:
            self[nid]  # a located KeyError when absent
        taken = {g.id for g in self._doc.groups}
        if id is None:
            i = 1
            while f"group_{i}" in taken:
                i += 1
            id = f"group_{i}"
        elif id in taken:
            raise WiringError(f"a group {id!r} exists already")
        self._replace(groups=[*self._doc.groups, GroupDoc(id=id, title=title, nodes=list(dict.fromkeys(ids)),
                                                          color=color)])
        return id

    def rename_group(self, group_id: str, title: str) -> None:
        self._group_doc(group_id)
        self._replace(groups=[g.model_copy(update={"title": title}) if g.id == group_id else g
                              for g in self._doc.groups])

    def ungroup(self, group_id: str) -> None:
        """Remove the group (its nodes stay)."""
        self._group_doc(group_id)
        self._replace(groups=[g for g in self._doc.groups if g.id != group_id])

    def _group_doc(self, group_id: str) -> GroupDoc:
        for g in self._doc.groups:
            if g.id == group_id:
                return g
        raise KeyError(f"no group {group_id!r} (groups: {', '.join(g.id for g in self._doc.groups) or 'none'})")

    def _fed(self) -> dict[str, str]:
        return {e.target: e.source for e in self._doc.edges}

    def _wire(self, left: PortRef | NodeHandle, right: PortRef | NodeHandle) -> NodeHandle:
        src = left if isinstance(left, NodeHandle) else left.node
        dst = right if isinstance(right, NodeHandle) else right.node
        for h in (src, dst):
            if h.pipeline is not self:
                raise WiringError(f"{h.id} belongs to another pipeline")
        sspec, dspec = src.spec, dst.spec
        fed = self._fed()
        outs = [left.name] if isinstance(left, PortRef) else list(sspec.outputs)
        ins = [right.name] if isinstance(right, PortRef) else [p for p in dspec.inputs if f"{dst.id}.{p}" not in fed]
        for name in outs:
            if name not in sspec.outputs:
                raise WiringError(f"{src.id} ({src.type}) has no output port {name!r} (outputs: {', '.join(sspec.outputs) or 'none'})")
        for name in ins:
            if name not in dspec.inputs:
                raise WiringError(f"{dst.id} ({dst.type}) has no input port {name!r} (inputs: {', '.join(dspec.inputs) or 'none'})")
        pairs = [(o, i) for o in outs for i in ins if dspec.inputs[i].type.accepts(sspec.outputs[o].type)]
        if not pairs:
            def show(ports, names):
                return ", ".join(f"{n}: {ports[n].type.value}" for n in names)
            if not ins:
                taken = ", ".join(f"{dst.id}.{p} ({dspec.inputs[p].type.value}) from {fed[f'{dst.id}.{p}']}"
                                  for p in dspec.inputs) or "it has no inputs"
                raise WiringError(f"cannot connect {src.id} -> {dst.id}: every input of {dst.id} ({dst.type}) is "
                                  f"already fed: {taken}; disconnect one first")
            otypes = sorted({sspec.outputs[o].type.value for o in outs})
            itypes = sorted({dspec.inputs[i].type.value for i in ins})
            raise WiringError(f"cannot connect {src.id} -> {dst.id}: type clash, {src.type} gives "
                              f"{' / '.join(otypes) or 'nothing'} ({show(sspec.outputs, outs) or 'no outputs'}) but "
                              f"{dst.type} takes {' / '.join(itypes)} ({show(dspec.inputs, ins)})")
        rank = {PortType.AUDIO: 0, PortType.TEXT: 1}
        best = min(rank.get(sspec.outputs[o].type, 2) for o, _ in pairs)
        candidates = list(dict.fromkeys(o for o, _ in pairs if rank.get(sspec.outputs[o].type, 2) == best))
        if len(candidates) > 1:
            raise WiringError(f"ambiguous: {src.id} has several outputs that fit {dst.id} ({', '.join(candidates)}); "
                              f"name them, e.g. {src.id}.{candidates[0]} >> {dst.id}.<input>")
        out = candidates[0]
        otype = sspec.outputs[out].type
        fits = [i for o, i in pairs if o == out]
        port_in = next((i for i in fits if dspec.inputs[i].type is otype), fits[0])  # exact type before Any
        source, target = f"{src.id}.{out}", f"{dst.id}.{port_in}"
        if target in fed:
            raise WiringError(f"input {target} is already fed by {fed[target]}; disconnect it first")
        g = nx.DiGraph([(e.source_node, e.target_node) for e in self._doc.edges])
        if src.id == dst.id or (dst.id in g and src.id in g and nx.has_path(g, dst.id, src.id)):
            raise WiringError(f"connecting {source} -> {target} would make a cycle")
        self._replace(edges=[*self._doc.edges, EdgeDoc(source=source, target=target)])
        return dst

    # named inputs and outputs
    def input(self, name: str, bind: PortRef | ParamRef | str, default: Any = None,
              description: str | None = None) -> "Pipeline":
        """Expose a param or an input port as a named pipeline input."""
        ref = str(bind)
        nid, target = ref.split(".", 1) if "." in ref else (ref, "")
        h = self[nid]
        spec = h.spec
        if target not in spec.inputs and target not in spec.params.model_fields:
            raise WiringError(f"input {name!r}: {h.type} has no input port or param {target!r}")
        fields: dict[str, Any] = {"bind": ref}
        if default is not None:
            fields["default"] = default
        if description is not None:
            fields["description"] = description
        with _located(None, f"inputs.{name}."):
            doc = InputDoc(**fields)
        self._replace(inputs={**self._doc.inputs, name: doc})
        return self

    def output(self, name: str, port: PortRef | str) -> "Pipeline":
        ref = str(port)
        nid, pname = ref.split(".", 1) if "." in ref else (ref, "")
        h = self[nid]
        if pname not in h.spec.outputs:
            raise WiringError(f"output {name!r}: {h.type} has no output port {pname!r} (outputs: {', '.join(h.spec.outputs)})")
        self._replace(outputs={**self._doc.outputs, name: ref})
        return self

    # checking, shape and layout
    def validate(self, inputs: Mapping[str, Any] | None = None, check_files: bool = True) -> "ValidationReport":
        """Every problem the engine would refuse to run with (empty when ready)."""
        return ValidationReport(plan(self._doc, self.registry, inputs, check_files=check_files).errors)

    def graph(self) -> nx.DiGraph:
        """The document as a networkx graph: nodes carry `type`/`title`, edges `ports` [(out, in)]."""
        g = nx.DiGraph()
        for n in self._doc.nodes:
            g.add_node(n.id, type=n.type, title=n.title or "")
        for e in self._doc.edges:
            if e.source_node in g and e.target_node in g:
                if not g.has_edge(e.source_node, e.target_node):
                    g.add_edge(e.source_node, e.target_node, ports=[])
                g.edges[e.source_node, e.target_node]["ports"].append((e.source_port, e.target_port))
        return g

    def layout(self, dx: float = 260, dy: float = 160) -> "Pipeline":
        """Write layered positions (column = topological depth) into every node."""
        pos = layered_positions(self.graph(), dx, dy)
        nodes = [n.model_copy(update={"position": Position(x=pos[n.id][0], y=pos[n.id][1])}) for n in self._doc.nodes]
        for n in nodes:
            n.model_fields_set.add("position")
        self._replace(nodes=nodes)
        return self

    # running
    def run(self, inputs: Mapping[str, Any] | None = None, engine: Engine | None = None, *,
            overrides: list[tuple[str, str, Any]] | None = None, use_cache: bool = True,
            on_event: Callable[[StageEvent], None] | None = None) -> "PipelineRun":
        """Run on `engine` (default: the process-wide one). Raises InvalidPipeline before running."""
        engine = engine or default_engine()
        doc = self._doc.model_copy(deep=True)  # later edits must not change what this run records
        result = engine.run(doc, inputs=inputs, overrides=overrides, use_cache=use_cache, on_event=on_event)
        return PipelineRun(doc, engine, result)

    def sweep(self, grid: Mapping[str, Any], score: str | list[str], inputs: Mapping[str, Any] | None = None,
              engine: Engine | None = None, *, maximize: bool | None = None, out: str | Path | None = None,
              use_cache: bool = True):
        """Run every point of `grid` ({"node.param": [values]}, cartesian) and return the ranked
        pandas DataFrame (best first by `score`, "node.metric"; see graph_engine.sweep). With `out`,
        also writes the CSV, markdown, plot and each point's audio there. Upstream stages are shared."""
        from .sweep import parse_score, run_sweep, write_report
        scores = [parse_score(s, maximize) for s in ([score] if isinstance(score, str) else score)]
        result = run_sweep(engine or default_engine(), self._doc.model_copy(deep=True), grid, scores, inputs,
                           use_cache=use_cache, output_dir=out)
        if out is not None:
            write_report(result, out)
        frame = result.to_dataframe()
        frame.attrs["sweep"] = result  # the points, with their audio values, for players
        return frame

    def __repr__(self) -> str:
        return f"<Pipeline {self.name or ''!s} nodes={self.node_ids} edges={len(self._doc.edges)}>"


# -- IPython completion of node types in p.add("... -------------------------------------------
_ADD_CALL = re.compile(r"""\.add\(\s*(?:type\s*=\s*)?(["'])([\w.\-]*)$""")
_COMPLETER_REGISTRIES: list[Registry] = []


def add_completions(line_before_cursor: str, registry: Registry | None = None) -> list[str] | None:
    """Node types completing `p.add("tts.` (None when the cursor is not in an `.add("...` string)."""
    m = _ADD_CALL.search(line_before_cursor)
    if m is None:
        return None
    prefix = m.group(2)
    regs = [registry] if registry is not None else (_COMPLETER_REGISTRIES or [default_registry()])
    return sorted({t for r in regs for t in r.types() if t.startswith(prefix)})


def _install_completer(registry: Registry) -> None:
    """Register the `p.add("...` matcher with a running IPython once (a no-op outside IPython)."""
    if registry not in _COMPLETER_REGISTRIES:
        _COMPLETER_REGISTRIES.append(registry)
    import sys
    if "IPython" not in sys.modules:
        return
    try:
        from IPython import get_ipython
        from IPython.core.completer import context_matcher
    except ImportError:
        return
    ip = get_ipython()
    if ip is None or getattr(ip.Completer, "_haysay_matcher", False):
        return

    @context_matcher()
    def haysay_node_types(context):
        types = add_completions(context.line_with_cursor)
        if not types:
            return {"completions": [], "suppress": False}
        from IPython.core.completer import SimpleCompletion
        token = context.token
        # the token may start after the quote or inside a dotted name: complete what it covers
        typed = _ADD_CALL.search(context.line_with_cursor).group(2)
        cut = len(typed) - len(token) if typed.endswith(token) else 0
        return {"completions": [SimpleCompletion(text=t[cut:], type="haysay node") for t in types],
                "suppress": True}

    ip.Completer.custom_matchers.append(haysay_node_types)
    ip.Completer._haysay_matcher = True


def layered_positions(g: nx.DiGraph, dx: float = 260, dy: float = 160) -> dict[str, tuple[float, float]]:
    """Column = longest path from a source; rows in insertion order. Cycles fall back to one column."""
    depth: dict[str, int] = {}
    if nx.is_directed_acyclic_graph(g):
        for nid in nx.topological_sort(g):
            depth[nid] = max((depth[p] + 1 for p in g.predecessors(nid)), default=0)
    else:
        depth = {nid: 0 for nid in g}
    rows: dict[int, int] = {}
    pos = {}
    for nid in g:
        col = depth[nid]
        pos[nid] = (col * dx, rows.get(col, 0) * dy)
        rows[col] = rows.get(col, 0) + 1
    return pos


def load(path: str | Path) -> Pipeline:
    """Open a pipeline JSON file as a Pipeline."""
    return Pipeline.load(path)


def run(pipeline: Pipeline | PipelineDoc | str | Path, inputs: Mapping[str, Any] | None = None,
        engine: Engine | None = None, **kwargs: Any) -> PipelineRun:
    """Run a Pipeline, a document, or a pipeline file."""
    if isinstance(pipeline, (str, Path)):
        pipeline = Pipeline.load(pipeline)
    elif isinstance(pipeline, PipelineDoc):
        pipeline = Pipeline(doc=pipeline)
    return pipeline.run(inputs, engine, **kwargs)


__all__ = ["Pipeline", "NodeHandle", "PortRef", "ParamRef", "Params", "PipelineRun", "Stage", "Player", "Comparison",
           "ValidationReport", "WiringError", "ParamError", "GraphError", "default_engine", "set_default_engine",
           "layered_positions", "load", "run", "DISPLAYS", "param_rows", "params_doc", "add_completions"]
