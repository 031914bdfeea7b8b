"""Node modes, applied to the document before it is planned.

A bypassed node is replaced by wires: each output it feeds on is fed instead by the node's first
connected input of the same type. A muted node, and every node that needs it through a required
input, is left out and reported skipped. Because both rewrite the document, the cache keys
downstream of a bypassed node are those of the same graph with the node removed and its wires
joined, and a graph with muted parts plans exactly as the graph without them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .contract import NodeSpec, Registry
from .errors import GraphError
from .pipeline import EdgeDoc, PipelineDoc

Wire = tuple[str, str, str, str]  # source node, source port, target node, target port


@dataclass
class Resolved:
    doc: PipelineDoc  # what is planned: no bypassed or skipped nodes
    skipped: dict[str, str] = field(default_factory=dict)  # node id -> why
    bypassed: list[str] = field(default_factory=list)
    dropped_inputs: set[str] = field(default_factory=set)  # pipeline inputs bound to nodes left out
    errors: list[GraphError] = field(default_factory=list)


def _split(ref: str) -> tuple[str, str]:
    node, _, port = ref.partition(".")
    return node, port


def _pass_through(spec: NodeSpec, out_port: str, fed: dict[str, tuple[str, str]], bound: dict[str, str]):
    """The first connected input (wire or pipeline input) whose type is the output's."""
    want = spec.outputs[out_port].type
    for name, port in spec.inputs.items():
        if port.type is want and (name in fed or name in bound):
            return ("wire", fed[name]) if name in fed else ("input", bound[name])
    return None


def resolve_modes(doc: PipelineDoc, registry: Registry) -> Resolved:
    if all(n.mode == "normal" for n in doc.nodes):
        return Resolved(doc)
    types = {n.id: n.type for n in doc.nodes}
    wires: list[Wire] = [(e.source_node, e.source_port, e.target_node, e.target_port) for e in doc.edges]
    binds = {name: inp.bind for name, inp in doc.inputs.items()}
    outputs = dict(doc.outputs)
    out = Resolved(doc)
    for nid in [n.id for n in doc.nodes if n.mode == "bypass"]:
        spec = registry.get(types[nid])
        if spec is None:
            out.errors.append(GraphError("unknown_node_type", f"unknown node type {types[nid]!r} (see `haysay nodes`)",
                                         node=nid, field="type"))
            continue
        fed = {dp: (s, sp) for s, sp, d, dp in wires if d == nid}
        bound = {_split(b)[1]: name for name, b in binds.items() if _split(b)[0] == nid and _split(b)[1] in spec.inputs}
        users = [(sp, d, dp) for s, sp, d, dp in wires if s == nid]
        joined, named_to, rebound, problems = [], {}, {}, []
        for port in spec.outputs:
            targets = [(d, dp) for sp, d, dp in users if sp == port]
            named = [name for name, ref in outputs.items() if _split(ref) == (nid, port)]
            if not targets and not named:
                continue
            source = _pass_through(spec, port, fed, bound)
            kind = spec.outputs[port].type.value
            if source is None:
                problems.append(GraphError(
                    "bypass", f"bypass cannot pass output {port!r} ({kind}) through: {spec.type} has no connected "
                              f"{kind} input; connect one, or mute the node instead", node=nid, port=port))
            elif source[0] == "wire":
                joined += [(*source[1], d, dp) for d, dp in targets]
                named_to.update({name: ".".join(source[1]) for name in named})
            elif len(targets) == 1 and not named:  # a pipeline input now feeds the one port that used the output
                rebound[source[1]] = ".".join(targets[0])
            else:
                problems.append(GraphError(
                    "bypass", f"bypass cannot pass output {port!r} through: it is fed by pipeline input "
                              f"{source[1]!r}, which can bind to one port only", node=nid, port=port))
        problems += [GraphError("unknown_port", f"{spec.type} has no output port {sp!r}", node=nid, port=sp)
                     for sp, _d, _dp in users if sp not in spec.outputs]
        if problems:  # the node stays wired as it is, so nothing else is reported for it
            out.errors += problems
            continue
        out.bypassed.append(nid)
        wires = [w for w in wires if nid not in (w[0], w[2])] + joined
        outputs.update(named_to)
        binds.update(rebound)

    out.skipped = {n.id: "muted" for n in doc.nodes if n.mode == "mute"}
    grown = True
    while grown:  # what needs a skipped node through a required input is skipped too
        grown = False
        for s, _sp, d, dp in wires:
            if s in out.skipped and d not in out.skipped:
                spec = registry.get(types.get(d, ""))
                port = spec.inputs.get(dp) if spec is not None else None
                if port is None or not port.optional:
                    out.skipped[d] = f"needs {s}, which is skipped"
                    grown = True
    gone = set(out.bypassed) | set(out.skipped)
    wires = [w for w in wires if w[0] not in gone and w[2] not in gone]
    out.dropped_inputs = {name for name, b in binds.items() if _split(b)[0] in gone}
    out.doc = doc.model_copy(update={
        "nodes": [n for n in doc.nodes if n.id not in gone],
        "edges": [EdgeDoc(source=f"{s}.{sp}", target=f"{d}.{dp}") for s, sp, d, dp in wires],
        "inputs": {name: doc.inputs[name].model_copy(update={"bind": b}) for name, b in binds.items()
                   if name not in out.dropped_inputs},
        "outputs": {name: ref for name, ref in outputs.items() if _split(ref)[0] not in gone},
    })
    return out


def group_errors(doc: PipelineDoc) -> list[GraphError]:
    """Each group may hold only nodes the pipeline has, and each group id is used once."""
    ids = {n.id for n in doc.nodes}
    errors, seen = [], set()
    for i, g in enumerate(doc.groups):
        if g.id in seen:
            errors.append(GraphError("duplicate_id", f"group id {g.id!r} is used more than once", field=f"groups.{i}.id"))
        seen.add(g.id)
        for j, nid in enumerate(g.nodes):
            if nid not in ids:
                errors.append(GraphError("unknown_node", f"group {g.id!r} names unknown node {nid!r}",
                                         field=f"groups.{i}.nodes.{j}"))
    return errors
