"""Build a networkx DiGraph from a pipeline document and validate it before anything runs.

`plan()` collects *every* problem (it never stops at the first) and returns
them as located `GraphError`s; a plan without errors is ready to execute.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from pydantic import BaseModel, ValidationError

from .contract import NodeSpec, Registry, default_registry
from .dag import Digraph
from .errors import GraphError
from .modes import group_errors, resolve_modes
from .pipeline import NodeDoc, PipelineDoc, describe_path
from .values import AudioShape, PortType

# Pipeline inputs bound to an Audio or Text port become a small source node of these types.
PORT_INPUT_NODES = {PortType.AUDIO: ("audio.load", "path"), PortType.TEXT: ("text.value", "text")}


@dataclass
class Plan:
    """A validated graph: `graph`, an nx.DiGraph whose nodes carry `spec` and `params`,
    and whose edges carry `ports`, a list of (source_port, target_port). Validation builds it as
    plain dicts (`dag`); the networkx graph is made from them where it is first asked for."""

    doc: PipelineDoc
    dag: Digraph
    outputs: dict[str, tuple[str, str]]
    errors: list[GraphError] = field(default_factory=list)
    warnings: list[GraphError] = field(default_factory=list)  # worth saying, not worth refusing (a truncated file)
    memory_budget_mb: float | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # muted nodes and what needs them: node id -> why
    bypassed: list[str] = field(default_factory=list)  # not in `graph`: their wires are joined
    _nx: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def graph(self):
        """The networkx DiGraph (networkx is imported here, not by validation)."""
        if self._nx is None:
            self._nx = self.dag.to_networkx()
        return self._nx

    def shape(self, node_id: str) -> AudioShape | None:
        """The node's Audio output as validation foresees it (None when unknown before running)."""
        return self.dag.nodes[node_id].get("shape")

    def memory_need_mb(self, node_id: str) -> float:
        """What the node declares it needs for its inputs' sizes (its memory_mb when they are unknown)."""
        return self.dag.nodes[node_id].get("memory_need_mb", self.spec(node_id).memory_mb)

    @property
    def ok(self) -> bool:
        return not self.errors

    def order(self) -> list[str]:
        return self.dag.lexicographical_order()

    def spec(self, node_id: str) -> NodeSpec:
        return self.dag.nodes[node_id]["spec"]

    def params(self, node_id: str) -> BaseModel:
        return self.dag.nodes[node_id]["params"]

    def upstream(self, node_id: str) -> dict[str, tuple[str, str]]:
        """{input_port: (source_node, source_port)}"""
        ups = {}
        for src in self.dag.predecessors(node_id):
            for sp, dp in self.dag.edge(src, node_id)["ports"]:
                ups[dp] = (src, sp)
        return ups


def parse_override(text: str) -> tuple[str, str, Any]:
    """`node.param=value` -> (node, param, value); the value is JSON when it parses, else a string."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ValueError(f"expected node.param=value, got {text!r}")
    target, raw = text.split("=", 1)
    node_id, param = target.split(".", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    except RecursionError:
        raise ValueError(f"the value of {target} nests too deeply") from None
    return node_id, param, value


RANGE_ERRORS = {"less_than_equal", "greater_than_equal", "less_than", "greater_than"}


def _constraint_message(spec: NodeSpec, field_name: str, value: Any, fallback: str) -> str:
    info = spec.params.model_fields.get(field_name)
    if info is None:
        return fallback
    lo = hi = None
    for m in info.metadata:
        lo = getattr(m, "ge", lo) if getattr(m, "ge", None) is not None else lo
        lo = getattr(m, "gt", lo) if getattr(m, "gt", None) is not None else lo
        hi = getattr(m, "le", hi) if getattr(m, "le", None) is not None else hi
        hi = getattr(m, "lt", hi) if getattr(m, "lt", None) is not None else hi
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    unit = f" {extra['unit']}" if extra.get("unit") else ""
    if lo is not None and hi is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"must be between {lo} and {hi}{unit}, got {value}"
    return f"{fallback}{unit}, got {value!r}"


def validate_params(node_id: str, spec: NodeSpec, raw: Mapping[str, Any]) -> tuple[BaseModel | None, list[GraphError]]:
    try:
        return spec.params.model_validate(dict(raw)), []
    except ValidationError as exc:
        errors = []
        for e in exc.errors():
            fname = ".".join(str(p) for p in e["loc"]) or None
            if e["type"] == "extra_forbidden":
                known = ", ".join(spec.params.model_fields) or "none"
                msg = f"unknown param for {spec.type} (known: {known})"
            elif e["type"] in RANGE_ERRORS:
                msg = _constraint_message(spec, str(e["loc"][0]) if e["loc"] else "", e.get("input"), e["msg"].lower())
            elif not e["loc"] and e["type"] == "value_error":  # a check across params: `param: problem` locates it
                err = _located(node_id, spec, "invalid_param", e["msg"].removeprefix("Value error, "))
                errors.append(err)
                continue
            else:  # a custom validator's or a type error's own words
                msg = f"{e['msg']}, got {e.get('input')!r}" if e["type"] != "missing" else "required param is missing"
            errors.append(GraphError("invalid_param", msg, node=node_id, field=fname))
        return None, errors


def cycle_errors(dag: Digraph) -> list[GraphError]:
    """One error per strongly connected component that loops, naming its nodes once.

    Enumerating simple cycles is exponential (88 nodes can hold 2^22 of them); the
    components and one example loop through each take linear time. An acyclic graph
    (the usual one) is told apart without networkx."""
    if not dag.has_cycle():
        return []
    import networkx as nx
    g = dag.to_networkx()
    errors = []
    for comp in nx.strongly_connected_components(g):
        if len(comp) == 1 and not any(g.has_edge(n, n) for n in comp):
            continue
        sub = g.subgraph(comp)
        start = min(comp)
        loop = [u for u, _v in nx.find_cycle(sub, source=start)]
        path = " -> ".join(loop + [loop[0]])
        members = sorted(comp)
        shown = ", ".join(members[:20]) + (f" (and {len(members) - 20} more)" if len(members) > 20 else "")
        errors.append(GraphError("cycle", f"the graph has a cycle: {path}; nodes in this loop: {shown}",
                                 node=loop[0]))
    return sorted(errors, key=lambda e: e.node or "")


def worker_memory_mb() -> float:
    """A worker's memory budget: HAYSAY_WORKER_MEMORY_MB, else what Dask gives a local worker
    (the machine's memory, or its cgroup limit)."""
    env = os.environ.get("HAYSAY_WORKER_MEMORY_MB")
    if env:
        return float(env)
    from .config import machine_memory_bytes
    return machine_memory_bytes() / (1 << 20)


def _located(nid: str, spec: NodeSpec, code: str, message: str) -> GraphError:
    """A node's own words `param: problem` become an error at that param."""
    head, sep, rest = message.partition(": ")
    if sep and head in spec.params.model_fields:
        return GraphError(code, rest, node=nid, field=head)
    return GraphError(code, message, node=nid)


def foresee(g: Digraph, errors: list[GraphError], warnings: list[GraphError], budget_mb: float | None) -> None:
    """Walk an acyclic, well-formed graph upstream first: each node's Audio output shape from
    file headers and params, the inputs a node refuses, and each stage's memory need against
    the worker's budget. Shapes that cannot be known (speech from text) stop the walk downstream."""
    for nid in g.topological_sort():
        data = g.nodes[nid]
        spec, params = data["spec"], data["params"]
        if params is None:
            continue
        shapes: dict[str, AudioShape] = {}
        wired: set[str] = set()
        for src in g.predecessors(nid):
            for sp, dp in g.edge(src, nid)["ports"]:
                wired.add(dp)
                shape = g.nodes[src].get("shape")
                if shape is not None and spec.inputs[dp].type is PortType.AUDIO:
                    shapes[dp] = shape
        # an optional input left unwired takes no part (a TTS node's optional reference audio)
        audio_ins = [n for n, p in spec.inputs.items() if p.type is PortType.AUDIO and (n in wired or not p.optional)]
        try:
            if audio_ins and set(shapes) != set(audio_ins):
                # an input of unknown size (speech from text): the node's models must still be there
                if spec.fingerprint is not None:
                    try:
                        spec.fingerprint(params)
                    except OSError as exc:  # a model file that cannot be read
                        raise ValueError(str(exc)) from None
                if spec.shape is None:
                    continue
            out = spec.output_shape(params, shapes) if set(shapes) == set(audio_ins) else None
        except ValueError as exc:
            errors.append(_located(nid, spec, "invalid_input", str(exc)))
            continue
        if out is not None:
            data["shape"] = out
            warnings += [GraphError("input_warning", note, node=nid) for note in out.notes]
        if set(shapes) != set(audio_ins) or not audio_ins:
            continue
        need = spec.memory_need_mb(params, shapes)
        data["memory_need_mb"] = need
        if budget_mb is not None and need > budget_mb:
            size = ", ".join(f"{p} {s.duration:.0f} s x {s.channels} ch @ {s.sample_rate} Hz" for p, s in shapes.items())
            errors.append(GraphError(
                "memory", f"{spec.type} holds its whole input in memory: it needs about {need:,.0f} MB for "
                          f"{size}, but a worker has {budget_mb:,.0f} MB (HAYSAY_WORKER_MEMORY_MB); shorten or "
                          "split the audio, or run on a worker with more memory", node=nid))


def plan(doc: PipelineDoc, registry: Registry | None = None, inputs: Mapping[str, Any] | None = None,
         overrides: list[tuple[str, str, Any]] | None = None, check_files: bool = True,
         memory_budget_mb: float | None = None) -> Plan:
    """Validate `doc` with run-time `inputs` and `overrides`, and build its graph.

    With `check_files`, input files are opened as far as their headers: sizes, channels and
    rates flow down the graph, nodes refuse what they cannot take, and a stage whose declared
    memory need passes `memory_budget_mb` (default: `worker_memory_mb()`) is refused."""
    registry = registry or default_registry()
    modes = resolve_modes(doc, registry)
    original, doc = doc, modes.doc
    inputs = {k: v for k, v in (inputs or {}).items() if k not in modes.dropped_inputs}
    left_out = set(modes.skipped) | set(modes.bypassed)
    overrides = [o for o in overrides or [] if o[0] not in left_out]
    errors: list[GraphError] = modes.errors + group_errors(original)
    g = Digraph()
    docs: dict[str, NodeDoc] = {}

    for n in doc.nodes:
        if n.id in docs:
            errors.append(GraphError("duplicate_id", f"node id {n.id!r} is used more than once", node=n.id))
            continue
        docs[n.id] = n

    raw_params = {nid: dict(n.params) for nid, n in docs.items()}
    for node_id, param, value in overrides or []:
        if node_id not in docs:
            errors.append(GraphError("unknown_node", f"--set names no node {node_id!r}", node=node_id, field=param))
        else:
            raw_params[node_id][param] = value

    specs: dict[str, NodeSpec] = {}
    for nid, n in docs.items():
        spec = registry.get(n.type)
        if spec is None:
            errors.append(GraphError("unknown_node_type", f"unknown node type {n.type!r} (see `haysay nodes`)", node=nid, field="type"))
        else:
            specs[nid] = spec

    # Named inputs: bind to a param (value goes into params) or to a port (a source node is added).
    port_inputs: dict[str, tuple[str, str, Any]] = {}
    bound_ports: set[tuple[str, str]] = set()  # fed by a pipeline input, even one still missing its value
    for name, inp in doc.inputs.items():
        node_id, target = inp.bind.split(".", 1)
        # precedence: an explicit input value, then a --set override, then the input's default
        if name not in inputs and any((o[0], o[1]) == (node_id, target) for o in overrides or []):
            continue
        value = inputs.pop(name, inp.default)
        if node_id not in docs:
            errors.append(GraphError("unknown_input", f"input {name!r} binds to unknown node {node_id!r}", field=f"inputs.{name}"))
            continue
        spec = specs.get(node_id)
        if spec is None:
            continue
        if target in spec.inputs:
            bound_ports.add((node_id, target))
        if value is None:
            errors.append(GraphError("missing_input", f"pipeline input {name!r} needs a value (--input {name}=...)",
                                     node=node_id, field=f"inputs.{name}"))
            continue
        if target in spec.inputs:
            port_inputs[name] = (node_id, target, value)
        elif target in spec.params.model_fields:
            raw_params[node_id][target] = value
        else:
            errors.append(GraphError("unknown_input", f"input {name!r} binds to {inp.bind!r}, which is neither a param nor a port of {spec.type}",
                                     node=node_id, field=f"inputs.{name}"))
    for name in inputs:
        errors.append(GraphError("unknown_input", f"the pipeline has no input named {name!r} (it has: {', '.join(doc.inputs) or 'none'})",
                                 field=f"inputs.{name}"))

    for nid, spec in specs.items():
        params, perrs = validate_params(nid, spec, raw_params[nid])
        errors += perrs
        g.add_node(nid, spec=spec, params=params, doc=docs[nid])
        if params is not None and check_files:
            for fname in spec.file_fields():
                path = getattr(params, fname)
                if path and "://" not in str(path) and not os.path.isfile(path):
                    what = describe_path(path)
                    msg = f"file not found: {path}" if what == "not found" else f"{path} is {what}, not a file"
                    errors.append(GraphError("missing_file", msg, node=nid, field=fname))

    for name, (node_id, port, value) in port_inputs.items():
        ptype = specs[node_id].inputs[port].type
        if ptype not in PORT_INPUT_NODES:
            errors.append(GraphError("unknown_input", f"input {name!r} cannot feed a {ptype.value} port", node=node_id, port=port))
            continue
        src_type, src_param = PORT_INPUT_NODES[ptype]
        src_id = f"input:{name}"
        src_spec = registry[src_type]
        params, perrs = validate_params(src_id, src_spec, {src_param: value})
        errors += [GraphError(e.code, e.message, node=node_id, field=f"inputs.{name}") for e in perrs]
        if params is not None and check_files and src_spec.file_fields() and not os.path.isfile(str(value)):
            what = describe_path(str(value))
            msg = f"file not found: {value}" if what == "not found" else f"{value} is {what}, not a file"
            errors.append(GraphError("missing_file", f"input {name!r}: {msg}", node=node_id, field=f"inputs.{name}"))
        g.add_node(src_id, spec=src_spec, params=params, doc=NodeDoc(id="input_" + name.replace(":", "_"), type=src_type), virtual=True)
        g.add_edge(src_id, node_id, ports=[(next(iter(src_spec.outputs)), port)])

    fed: dict[tuple[str, str], str] = {(v, dp): u for u, v, d in g.edge_list() for _, dp in d["ports"]}
    for e in doc.edges:
        ok = True
        for end, nid, port, kind in ((e.source, e.source_node, e.source_port, "outputs"),
                                     (e.target, e.target_node, e.target_port, "inputs")):
            if nid not in docs:
                errors.append(GraphError("bad_edge", f"edge {e.source} -> {e.target} names unknown node {nid!r}", node=nid))
                ok = False
            elif nid in specs and port not in getattr(specs[nid], kind):
                have = ", ".join(getattr(specs[nid], kind)) or "none"
                errors.append(GraphError("unknown_port", f"{specs[nid].type} has no {kind[:-1]} port {port!r} (it has: {have})", node=nid, port=port))
                ok = False
        if not ok or e.source_node not in specs or e.target_node not in specs:
            continue
        st = specs[e.source_node].outputs[e.source_port].type
        tt = specs[e.target_node].inputs[e.target_port].type
        if not tt.accepts(st):
            errors.append(GraphError("port_type_mismatch", f"cannot connect {e.source} ({st.value}) to {e.target} ({tt.value})",
                                     node=e.target_node, port=e.target_port))
            continue
        key = (e.target_node, e.target_port)
        if key in fed:
            errors.append(GraphError("bad_edge", f"input {e.target} is already fed by {fed[key]}", node=e.target_node, port=e.target_port))
            continue
        fed[key] = e.source_node
        if g.has_edge(e.source_node, e.target_node):
            g.edge(e.source_node, e.target_node)["ports"].append((e.source_port, e.target_port))
        else:
            g.add_edge(e.source_node, e.target_node, ports=[(e.source_port, e.target_port)])

    errors += cycle_errors(g)

    for nid, spec in specs.items():
        for pname, port in spec.inputs.items():
            if not port.optional and (nid, pname) not in fed and (nid, pname) not in bound_ports:
                errors.append(GraphError("unconnected_input", f"required input {pname!r} ({port.type.value}) is not connected",
                                         node=nid, port=pname))

    outputs: dict[str, tuple[str, str]] = {}
    for name, ref in doc.outputs.items():
        if "." not in ref:
            errors.append(GraphError("unknown_output", f"output {name!r} must name node_id.port, got {ref!r}", field=f"outputs.{name}"))
            continue
        nid, port = ref.split(".", 1)
        if nid not in docs:
            errors.append(GraphError("unknown_output", f"output {name!r} names unknown node {nid!r}", field=f"outputs.{name}"))
        elif nid in specs and port not in specs[nid].outputs:
            errors.append(GraphError("unknown_output", f"output {name!r}: {specs[nid].type} has no output port {port!r}",
                                     node=nid, port=port, field=f"outputs.{name}"))
        else:
            outputs[name] = (nid, port)

    warnings: list[GraphError] = [GraphError("lifecycle_warning", spec.lifecycle.warning(spec.type), node=nid)
                                  for nid, spec in specs.items()
                                  if spec.lifecycle is not None and spec.lifecycle.warning(spec.type)]
    if check_files and not errors:  # sizes only mean something in a graph that is otherwise sound
        budget = worker_memory_mb() if memory_budget_mb is None else memory_budget_mb
        foresee(g, errors, warnings, budget)
    else:
        budget = memory_budget_mb
    return Plan(doc=original, dag=g, outputs=outputs, errors=errors, warnings=warnings, memory_budget_mb=budget,
                skipped=modes.skipped, bypassed=modes.bypassed)
