"""Edits of a pipeline as operations, so the canvas and Python edit one document.

The canvas sends what the user did (add, remove, connect, disconnect, set, move,
duplicate), never a whole document: Python's own edits made meanwhile are kept.
`apply` runs a batch through the Pipeline API's validating calls on a copy and
commits it only when every operation succeeded, so a refused edit changes nothing.
It returns the inverse batch, which is what undo applies: undoing a canvas edit
reverts that edit alone, never an edit made from Python.

Operations are JSON dicts:
    {"op": "add", "type": "gen.tone", "id": "t"?, "params": {...}?, "position": {"x":, "y":}?}
    {"op": "remove", "id": "t"}
    {"op": "connect" | "disconnect", "from": "a.audio", "to": "b.audio"}
    {"op": "set", "id": "t", "params": {...}, "reset": ["name", ...]?}
    {"op": "move", "id": "t", "position": {"x":, "y":} | null}
    {"op": "duplicate", "ids": ["t", ...], "offset": 40?}
    {"op": "mode", "id": "t", "mode": "normal" | "bypass" | "mute"}
    {"op": "group", "nodes": ["t", ...], "id": "group_1"?, "title": ""?, "color": "#..."?}
    {"op": "ungroup", "id": "group_1"}
    {"op": "rename_group", "id": "group_1", "title": "Voice chain"}
    {"op": "via", "from": "a.audio", "to": "b.audio", "via": [{"x":, "y":}, ...]}   ([] straightens the wire)
"""
from __future__ import annotations

from typing import Any

from haysay.graph_engine.builder import ParamError, Pipeline, WiringError
from haysay.graph_engine.errors import InvalidPipeline
from haysay.graph_engine.pipeline import InputDoc, NodeDoc, Position


class OperationRefused(ValueError):
    """An operation the pipeline refuses; the document is left as it was."""


def apply(pipeline: Pipeline, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply `ops` all or none; returns the operations that undo them (in order)."""
    work = pipeline.copy()
    inverse: list[dict[str, Any]] = []
    for i, op in enumerate(ops):
        try:
            inverse[:0] = _apply_one(work, op)
        except OperationRefused:
            raise
        except (ParamError, InvalidPipeline, WiringError, KeyError, ValueError, TypeError) as exc:
            where = f"{op.get('op', '?')} {op.get('id') or op.get('from') or op.get('type') or ''}".strip()
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            raise OperationRefused(f"{where}: {msg}") from None
    if ops:
        pipeline.doc = work.doc  # one change notification for the whole batch
    return inverse


def _pos(value: Any) -> Position | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return Position(x=float(value["x"]), y=float(value["y"]))
    return Position(x=float(value[0]), y=float(value[1]))


def _apply_one(p: Pipeline, op: dict[str, Any]) -> list[dict[str, Any]]:
    kind = op.get("op")
    if kind == "add":
        pos = _pos(op.get("position"))
        node = p.add(op["type"], op.get("id"), position=(pos.x, pos.y) if pos else None, **dict(op.get("params") or {}))
        return [{"op": "remove", "id": node.id}]
    if kind == "remove":
        p[op["id"]]  # a located KeyError when absent
        snap = _snapshot(p, op["id"])
        p.remove(op["id"])
        return [{"op": "restore", **snap}]
    if kind == "restore":
        _restore(p, op)
        return [{"op": "remove", "id": op["node"]["id"]}]
    if kind == "connect":
        src, dst = _ports(p, op)
        p.connect(src, dst)
        return [{"op": "disconnect", "from": op["from"], "to": op["to"]}]
    if kind == "disconnect":
        p.disconnect(op["from"], op["to"])
        return [{"op": "connect", "from": op["from"], "to": op["to"]}]
    if kind == "set":
        node = p[op["id"]]
        before = dict(node.doc.params)
        params, reset = dict(op.get("params") or {}), list(op.get("reset") or [])
        changed = {k for k in params if k not in before or before[k] != params[k]} | {k for k in reset if k in before}
        if not changed:
            return []
        if reset:
            node.reset(*reset)
        if params:
            node.set(**params)
        return [{"op": "set", "id": node.id, "params": {k: before[k] for k in changed if k in before},
                 "reset": sorted(k for k in changed if k not in before)}]
    if kind == "move":
        node = p[op["id"]]
        old = node.doc.position
        new = _pos(op.get("position"))
        if (old is None and new is None) or (old is not None and new is not None and (old.x, old.y) == (new.x, new.y)):
            return []
        _place(p, node.id, new)
        return [{"op": "move", "id": node.id, "position": {"x": old.x, "y": old.y} if old else None}]
    if kind == "duplicate":
        return _duplicate(p, list(op.get("ids") or []), float(op.get("offset", 40)))
    if kind == "mode":
        node, mode = p[op["id"]], op.get("mode") or "normal"
        if mode not in ("normal", "bypass", "mute"):
            raise OperationRefused(f"mode {node.id}: mode must be normal, bypass or mute, got {mode!r}")
        old = node.mode
        if old == mode:
            return []
        {"normal": node.unmute, "bypass": node.bypass, "mute": node.mute}[mode]()
        return [{"op": "mode", "id": node.id, "mode": old}]
    if kind == "group":
        gid = p.group(*list(op.get("nodes") or []), title=str(op.get("title") or ""), color=op.get("color"),
                      id=op.get("id"))
        return [{"op": "ungroup", "id": gid}]
    if kind == "ungroup":
        g = p._group_doc(str(op.get("id")))
        p.ungroup(g.id)
        return [{"op": "group", **g.model_dump(mode="json")}]
    if kind == "rename_group":
        g = p._group_doc(str(op.get("id")))
        title = str(op.get("title") or "")[:200]
        if title == g.title:
            return []
        p.rename_group(g.id, title)
        return [{"op": "rename_group", "id": g.id, "title": g.title}]
    if kind == "via":
        pair = (str(op.get("from")), str(op.get("to")))
        edge = next((e for e in p.doc.edges if (e.source, e.target) == pair), None)
        if edge is None:
            raise OperationRefused(f"via {pair[0]}: no edge {pair[0]} -> {pair[1]}")
        old = [{"x": q.x, "y": q.y} for q in edge.via or []]
        new = [{"x": float(q["x"]), "y": float(q["y"])} for q in op.get("via") or []]
        if new == old:
            return []
        p.reroute(*pair, new)
        return [{"op": "via", "from": pair[0], "to": pair[1], "via": old}]
    raise OperationRefused(f"unknown operation {kind!r}")


def _ports(p: Pipeline, op: dict[str, Any]):
    refs = []
    for key in ("from", "to"):
        ref = str(op.get(key, ""))
        if "." not in ref:
            raise OperationRefused(f"{op.get('op')}: {key} must be node.port, got {ref!r}")
        nid, port = ref.split(".", 1)
        refs.append(p[nid][port])
    return refs


def _snapshot(p: Pipeline, nid: str) -> dict[str, Any]:
    doc = p.doc
    return {"node": doc.node(nid).model_dump(mode="json", exclude_unset=True),
            "index": [n.id for n in doc.nodes].index(nid),
            "edges": [{"from": e.source, "to": e.target} for e in doc.edges if nid in (e.source_node, e.target_node)],
            "inputs": {k: v.model_dump(mode="json", exclude_unset=True) for k, v in doc.inputs.items()
                       if v.bind.split(".", 1)[0] == nid},
            "outputs": {k: v for k, v in doc.outputs.items() if v.split(".", 1)[0] == nid},
            "groups": [g.model_dump(mode="json") for g in doc.groups if nid in g.nodes]}


def _restore(p: Pipeline, op: dict[str, Any]) -> None:
    """Put a removed node back where it was, with the edges, inputs and outputs it had."""
    node = NodeDoc.model_validate(op["node"])
    if node.id in p:
        raise OperationRefused(f"restore {node.id}: a node {node.id!r} exists again")
    if node.type not in p.registry:
        raise OperationRefused(f"restore {node.id}: unknown node type {node.type!r}")
    doc = p.doc
    nodes = list(doc.nodes)
    nodes.insert(min(int(op.get("index", len(nodes))), len(nodes)), node)
    p._replace(nodes=nodes)
    for e in op.get("edges", []):
        src, dst = _ports(p, {"op": "restore", **e})
        p.connect(src, dst)
    if op.get("inputs"):
        p._replace(inputs={**p.doc.inputs, **{k: InputDoc.model_validate(v) for k, v in op["inputs"].items()}})
    if op.get("outputs"):
        p._replace(outputs={**p.doc.outputs, **op["outputs"]})
    for g in op.get("groups", []):  # back in the groups it was in (one it alone was in comes back)
        ids = {x.id for x in p.doc.groups}
        if g["id"] in ids:
            p._replace(groups=[x.model_copy(update={"nodes": [*x.nodes, node.id]}) if x.id == g["id"]
                               and node.id not in x.nodes else x for x in p.doc.groups])
        else:
            p.group(node.id, title=g.get("title") or "", color=g.get("color"), id=g["id"])


def _place(p: Pipeline, nid: str, pos: Position | None) -> None:
    if pos is not None:
        p[nid].move(pos.x, pos.y)
        return
    nodes = []
    for n in p.doc.nodes:
        if n.id == nid:  # rebuilt without the field, so it is not exported as null
            n = NodeDoc.model_validate(n.model_dump(mode="json", exclude_unset=True, exclude={"position"}))
        nodes.append(n)
    p._replace(nodes=nodes)


def _duplicate(p: Pipeline, ids: list[str], offset: float) -> list[dict[str, Any]]:
    from haysay.graph_engine.builder import layered_positions
    auto = layered_positions(p.graph())
    mapping: dict[str, str] = {}
    for nid in dict.fromkeys(ids):
        src = p[nid]
        pos = src.position or auto[nid]
        base = nid.rstrip("0123456789").rstrip("_") or nid
        new_id, i = base, 2
        while new_id in p:
            new_id, i = f"{base}_{i}", i + 1
        p.add(src.type, new_id, position=(pos[0] + offset, pos[1] + offset), title=src.doc.title,
              **dict(src.doc.params))
        mapping[nid] = new_id
    for e in list(p.doc.edges):
        if e.source_node in mapping and e.target_node in mapping:
            p.connect(p[mapping[e.source_node]][e.source_port], p[mapping[e.target_node]][e.target_port])
    return [{"op": "remove", "id": new} for new in reversed(mapping.values())]
