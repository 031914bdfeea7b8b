"""The pipeline being edited in the studio: a plain document with undo/redo.

Everything here is pure Python over the engine's pipeline format and node
registry, so the editing rules (which connections are refused and why,
auto-layout, duplicate, undo) are tested without a browser. The canvas only
renders `canvas_nodes()` / `canvas_edges()` and reports intents.
"""
from __future__ import annotations

import copy
import re
from typing import Any

import networkx as nx

from haysay.graph_engine import PipelineDoc, PortType, Registry, default_registry, parse_pipeline
from haysay.graph_engine.pipeline import FORMAT

UNDO_DEPTH = 200
COLUMN_GAP, ROW_GAP = 280, 170
CARD_GAP = 30.0  # auto-layout: room between two cards of a column
CARD_FIELDS = 5  # NodeCanvas.js's: a card shows this many params, or all of one more
MODES = ("bypass", "mute")
GROUP_COLORS = ("#7e57c2", "#26a69a", "#ef6c00", "#1e88e5", "#c0ca33", "#8d6e63")


class GraphModel:
    """Nodes, edges, named inputs/outputs and positions of one pipeline, plus undo/redo."""

    def __init__(self, registry: Registry | None = None, name: str = "untitled"):
        self.registry = registry or default_registry()
        self.doc: dict[str, Any] = {"format": FORMAT, "name": name, "nodes": [], "edges": [], "inputs": {}, "outputs": {}}
        self._undo: list[dict] = []
        self._redo: list[dict] = []
        self.revision = 0  # bumped on every change: the autosave writes when it moved

    # -- document in/out ---------------------------------------------------------------
    def load(self, doc: PipelineDoc) -> None:
        """Replace the graph with `doc` (undoable); nodes without positions get an auto-layout."""
        self._checkpoint()
        self.doc = _normalise(doc.to_dict())
        if any("position" not in n for n in self.doc["nodes"]):
            self._layout()

    def load_saved(self, data: dict[str, Any]) -> None:
        """Restore an autosaved document as it was, even one that does not validate yet (undoable)."""
        self._checkpoint()
        self.doc = _normalise(data)
        for key in ("inputs", "outputs"):
            if not isinstance(self.doc.get(key), dict):
                self.doc[key] = {}
        for n in self.doc["nodes"]:
            if not isinstance(n.get("params"), dict):
                n["params"] = {}

    def to_doc(self) -> PipelineDoc:
        """The same document the CLI runs: positions ride along as optional fields."""
        data = copy.deepcopy(self.doc)
        for key in ("inputs", "outputs"):
            if not data[key]:
                data.pop(key)
        return parse_pipeline(data)

    def to_json(self) -> str:
        return self.to_doc().to_json()

    # -- undo ----------------------------------------------------------------------------
    def _checkpoint(self) -> None:
        self.revision += 1
        self._undo.append(copy.deepcopy(self.doc))
        del self._undo[:-UNDO_DEPTH]
        self._redo.clear()

    def undo(self) -> bool:
        if not self._undo:
            return False
        self._redo.append(self.doc)
        self.doc = self._undo.pop()
        self.revision += 1
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        self._undo.append(self.doc)
        self.doc = self._redo.pop()
        self.revision += 1
        return True

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    # -- queries -------------------------------------------------------------------------
    def node(self, node_id: str) -> dict[str, Any]:
        for n in self.doc["nodes"]:
            if n["id"] == node_id:
                return n
        raise KeyError(node_id)

    def has_node(self, node_id: str) -> bool:
        return any(n["id"] == node_id for n in self.doc["nodes"])

    def node_ids(self) -> list[str]:
        return [n["id"] for n in self.doc["nodes"]]

    def edges(self) -> list[tuple[str, str, str, str]]:
        """(source, source_port, target, target_port) of every edge."""
        out = []
        for e in self.doc["edges"]:
            s, sp = e["from"].split(".", 1)
            t, tp = e["to"].split(".", 1)
            out.append((s, sp, t, tp))
        return out

    def _port(self, node_id: str, port: str, kind: str):
        spec = self.registry.get(self.node(node_id)["type"])
        return None if spec is None else getattr(spec, kind).get(port)

    # -- edits ---------------------------------------------------------------------------
    def add_node(self, type_id: str, x: float = 0.0, y: float = 0.0, params: dict | None = None) -> str:
        spec = self.registry[type_id]
        node_id = self._fresh_id(type_id.rsplit(".", 1)[-1])
        self._checkpoint()
        entry: dict[str, Any] = {"id": node_id, "type": spec.type, "params": dict(params or {}),
                                 "position": {"x": float(x), "y": float(y)}}
        self.doc["nodes"].append(entry)
        return node_id

    def free_spot(self, x: float, y: float, width: float = 230.0, height: float = 130.0) -> tuple[float, float]:
        """(x, y) moved right, a column at a time, until no node's card sits there."""
        taken = [(n.get("position") or {"x": 0.0, "y": 0.0}) for n in self.doc["nodes"]]
        for _ in range(50):
            if not any(abs(p["x"] - x) < width and abs(p["y"] - y) < height for p in taken):
                break
            x += COLUMN_GAP
        return float(x), float(y)

    def _fresh_id(self, base: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_\-]", "_", base) or "node"
        if not re.match(r"[A-Za-z_]", base):
            base = "n_" + base
        taken = set(self.node_ids())
        if base not in taken:
            return base
        i = 2
        while f"{base}_{i}" in taken:
            i += 1
        return f"{base}_{i}"

    def connection_problem(self, source: str, source_port: str, target: str, target_port: str) -> str | None:
        """Why this connection is refused, or None when it may be made."""
        for nid in (source, target):
            if not self.has_node(nid):
                return f"there is no node {nid!r}"
        if source == target:
            return "a node cannot feed itself"
        out = self._port(source, source_port, "outputs")
        inp = self._port(target, target_port, "inputs")
        if out is None:
            return f"{source} has no output port {source_port!r}"
        if inp is None:
            return f"{target} has no input port {target_port!r}"
        if not inp.type.accepts(out.type):
            return (f"type mismatch: {source}.{source_port} gives {out.type.value}, "
                    f"but {target}.{target_port} takes {inp.type.value}")
        for s, sp, t, tp in self.edges():
            if t == target and tp == target_port:
                return f"input {target}.{target_port} is already fed by {s}.{sp}; delete that edge first"
        g = self._digraph()
        if nx.has_path(g, target, source):
            return f"connecting {source} -> {target} would make a cycle"
        return None

    def connect(self, source: str, source_port: str, target: str, target_port: str) -> str | None:
        """Add the edge; returns the refusal reason instead when it is not allowed."""
        problem = self.connection_problem(source, source_port, target, target_port)
        if problem is None:
            self._checkpoint()
            self.doc["edges"].append({"from": f"{source}.{source_port}", "to": f"{target}.{target_port}"})
        return problem

    def remove(self, nodes: list[str] = (), edges: list[str] = ()) -> bool:
        """Delete nodes (with their edges, bindings and outputs) and edges given as canvas edge ids."""
        nodes = {n for n in nodes if self.has_node(n)}
        edges = set(edges) & {edge_id(*e) for e in self.edges()}
        if not nodes and not edges:
            return False
        self._checkpoint()
        self.doc["nodes"] = [n for n in self.doc["nodes"] if n["id"] not in nodes]
        self.doc["edges"] = [e for e, tup in zip(self.doc["edges"], self.edges())
                             if tup[0] not in nodes and tup[2] not in nodes and edge_id(*tup) not in edges]
        self.doc["inputs"] = {k: v for k, v in self.doc["inputs"].items() if v["bind"].split(".", 1)[0] not in nodes}
        self.doc["outputs"] = {k: v for k, v in self.doc["outputs"].items() if v.split(".", 1)[0] not in nodes}
        groups = [{**g, "nodes": [n for n in g.get("nodes") or [] if n not in nodes]} for g in self.groups()]
        if groups or "groups" in self.doc:
            self.doc["groups"] = [g for g in groups if g["nodes"]]  # a group left empty goes with its nodes
            if not self.doc["groups"]:
                del self.doc["groups"]
        return True

    def duplicate(self, nodes: list[str], offset: float = 40.0) -> list[str]:
        """Copy nodes with their params and the edges among them; returns the new ids."""
        chosen = [self.node(n) for n in nodes if self.has_node(n)]
        if not chosen:
            return []
        self._checkpoint()
        mapping: dict[str, str] = {}
        for n in chosen:
            new = copy.deepcopy(n)
            new["id"] = self._fresh_id(n["id"].rstrip("0123456789").rstrip("_") or n["id"])
            pos = n.get("position") or {"x": 0.0, "y": 0.0}
            new["position"] = {"x": pos["x"] + offset, "y": pos["y"] + offset}
            mapping[n["id"]] = new["id"]
            self.doc["nodes"].append(new)
        for s, sp, t, tp in self.edges():
            if s in mapping and t in mapping:
                self.doc["edges"].append({"from": f"{mapping[s]}.{sp}", "to": f"{mapping[t]}.{tp}"})
        return list(mapping.values())

    def fragment(self, nodes: list[str]) -> dict[str, Any]:
        """The chosen nodes and the edges among them, as a pipeline document (what copy puts on the
        clipboard: pasted into any tab, or run as it is)."""
        chosen = {n for n in nodes if self.has_node(n)}
        return {"format": FORMAT, "name": "copied", "nodes": [copy.deepcopy(self.node(n)) for n in self.node_ids()
                                                               if n in chosen],
                "edges": [{"from": f"{s}.{sp}", "to": f"{t}.{tp}"} for s, sp, t, tp in self.edges()
                          if s in chosen and t in chosen]}

    def paste(self, fragment: dict[str, Any], x: float, y: float) -> list[str]:
        """Add a copied fragment with fresh ids, its top-left corner at (x, y); returns the new ids.
        Unknown node types and edges to nodes outside the fragment are left out."""
        nodes = [n for n in fragment.get("nodes", []) if isinstance(n, dict) and n.get("type") in self.registry]
        if not nodes:
            return []
        self._checkpoint()
        xs = [float((n.get("position") or {}).get("x", 0.0)) for n in nodes]
        ys = [float((n.get("position") or {}).get("y", 0.0)) for n in nodes]
        mapping: dict[str, str] = {}
        for n, nx_, ny_ in zip(nodes, xs, ys):
            new = {"id": self._fresh_id(str(n.get("id", "node")).rstrip("0123456789").rstrip("_") or "node"),
                   "type": n["type"], "params": copy.deepcopy(n.get("params") or {}),
                   "position": {"x": float(x) + nx_ - min(xs), "y": float(y) + ny_ - min(ys)}}
            mapping[str(n.get("id"))] = new["id"]
            self.doc["nodes"].append(new)
        for e in fragment.get("edges", []):
            try:
                s, sp = e["from"].split(".", 1)
                t, tp = e["to"].split(".", 1)
            except (KeyError, AttributeError, ValueError):
                continue
            if s in mapping and t in mapping and self.connection_problem(mapping[s], sp, mapping[t], tp) is None:
                self.doc["edges"].append({"from": f"{mapping[s]}.{sp}", "to": f"{mapping[t]}.{tp}"})
        return list(mapping.values())

    def candidates(self, wire: dict | None = None) -> list[tuple[Any, str | None]]:
        """Node types that may be added at the end of a wire, each with the port that would take it
        (None without a wire: every type). A wire from an output wants an input that accepts its type;
        a wire from an input, an output of a type it accepts."""
        out = []
        port = None
        if wire and self.has_node(wire.get("node", "")):
            port = self._port(wire["node"], wire.get("port", ""), "outputs" if wire.get("kind") == "source" else "inputs")
        for spec in self.registry:
            if port is None:
                out.append((spec, None))
            elif wire.get("kind") == "source":
                match = next((p.name for p in spec.inputs.values() if p.type.accepts(port.type)), None)
                if match:
                    out.append((spec, match))
            else:
                match = next((p.name for p in spec.outputs.values() if port.type.accepts(p.type)), None)
                if match:
                    out.append((spec, match))
        return out

    def move(self, positions: dict[str, tuple[float, float]]) -> bool:
        moved = {nid: xy for nid, xy in positions.items() if self.has_node(nid)
                 and (self.node(nid).get("position") or {}) != {"x": float(xy[0]), "y": float(xy[1])}}
        if not moved:
            return False
        self._checkpoint()
        for nid, (x, y) in moved.items():
            self.node(nid)["position"] = {"x": float(x), "y": float(y)}
        return True

    def set_param(self, node_id: str, field: str, value: Any) -> None:
        """Set (or with value None, clear back to the default) one param; validation is the engine's job."""
        params = self.node(node_id)["params"]
        if params.get(field, None) == value and (value is not None or field not in params):
            return
        self._checkpoint()
        if value is None:
            params.pop(field, None)
        else:
            params[field] = value

    def set_mode(self, nodes: list[str], mode: str | None) -> bool:
        """Bypass or mute `nodes` (mode "bypass" / "mute"), or make them run again (None)."""
        nodes = [n for n in nodes if self.has_node(n) and self.node(n).get("mode") != mode]
        if mode not in (*MODES, None) or not nodes:
            return False
        self._checkpoint()
        for nid in nodes:
            if mode is None:
                self.node(nid).pop("mode", None)
            else:
                self.node(nid)["mode"] = mode
        return True

    def groups(self) -> list[dict[str, Any]]:
        return list(self.doc.get("groups") or [])

    def group_of(self, node_id: str) -> dict[str, Any] | None:
        return next((g for g in self.groups() if node_id in (g.get("nodes") or [])), None)

    def group(self, nodes: list[str]) -> str | None:
        """A new group (frame) around `nodes`; its id, or None when none of them exist."""
        nodes = [n for n in nodes if self.has_node(n)]
        if not nodes:
            return None
        groups = self.groups()
        taken = {g.get("id") for g in groups}
        i = 1
        while f"group_{i}" in taken:
            i += 1
        self._set_groups(groups + [{"id": f"group_{i}", "title": f"Group {i}", "nodes": nodes,
                                    "color": GROUP_COLORS[(i - 1) % len(GROUP_COLORS)]}])
        return f"group_{i}"

    def rename_group(self, group_id: str, title: str) -> bool:
        title = str(title or "")[:200]
        if not any(g.get("id") == group_id and g.get("title") != title for g in self.groups()):
            return False
        self._set_groups([{**g, "title": title} if g.get("id") == group_id else g for g in self.groups()])
        return True

    def ungroup(self, group_id: str) -> bool:
        kept = [g for g in self.groups() if g.get("id") != group_id]
        if len(kept) == len(self.groups()):
            return False
        self._set_groups(kept)
        return True

    def _set_groups(self, groups: list[dict[str, Any]]) -> None:
        self._checkpoint()
        if groups:
            self.doc["groups"] = groups
        else:
            self.doc.pop("groups", None)

    def set_via(self, edge: str, via: list[dict[str, float]]) -> bool:
        """The reroute points of wire `edge` ("a.out->b.in"); an empty list straightens it."""
        found = next((e for e in self.doc["edges"] if f"{e['from']}->{e['to']}" == edge), None)
        if found is None or via == (found.get("via") or []):
            return False
        self._checkpoint()
        if via:
            found["via"] = via
        else:
            found.pop("via", None)
        return True

    def set_output(self, name: str, node_id: str | None, port: str = "") -> None:
        """Name a pipeline output (node.port), or remove it with node_id None."""
        self._checkpoint()
        if node_id is None:
            self.doc["outputs"].pop(name, None)
        else:
            self.doc["outputs"][name] = f"{node_id}.{port}"

    def layout(self) -> None:
        """Layered auto-layout: column = longest path from a source, rows in column order."""
        self._checkpoint()
        self._layout()

    def _layout(self) -> None:
        g = self._digraph()
        if not nx.is_directed_acyclic_graph(g):
            depth = {n: i for i, n in enumerate(g.nodes)}
        else:
            depth = {}
            for n in nx.topological_sort(g):
                depth[n] = max((depth[p] + 1 for p in g.predecessors(n)), default=0)
        columns: dict[int, list[str]] = {}
        for n in self.node_ids():
            columns.setdefault(depth[n], []).append(n)
        for col, members in columns.items():
            # stacked by each card's height (params on the cards make some tall), the column centred
            heights = [card_height(self.registry.get(self.node(nid)["type"])) for nid in members]
            y = -(sum(heights) + CARD_GAP * (len(members) - 1)) / 2
            for nid, h in zip(members, heights):
                self.node(nid)["position"] = {"x": float(col * COLUMN_GAP), "y": float(y)}
                y += h + CARD_GAP

    def _digraph(self) -> nx.DiGraph:
        g = nx.DiGraph()
        g.add_nodes_from(self.node_ids())
        g.add_edges_from((s, t) for s, _, t, _ in self.edges())
        return g

    # -- what the canvas draws ----------------------------------------------------------
    def canvas_nodes(self) -> list[dict[str, Any]]:
        out = []
        for n in self.doc["nodes"]:
            spec = self.registry.get(n["type"])
            desc = spec.describe() if spec else None
            out.append({
                "id": n["id"], "type": "stage", "position": dict(n.get("position") or {"x": 0, "y": 0}),
                "data": {
                    "title": n.get("title") or (spec.title if spec else n["type"]), "node_type": n["type"],
                    "category": spec.category if spec else "transform",
                    "inputs": desc["inputs"] if desc else [], "outputs": desc["outputs"] if desc else [],
                },
            })
        return out

    def canvas_edges(self, colors: dict[str, str]) -> list[dict[str, Any]]:
        out = []
        for s, sp, t, tp in self.edges():
            port = self._port(s, sp, "outputs") if self.has_node(s) else None
            ptype = port.type.value if port else PortType.ANY.value
            out.append({"id": edge_id(s, sp, t, tp), "source": s, "sourceHandle": sp, "target": t, "targetHandle": tp,
                        "style": {"stroke": colors.get(ptype, "#757575"), "strokeWidth": 2}, "data": {"type": ptype}})
        return out


def card_height(spec) -> float:
    """About how tall NodeCanvas.js draws a card of this node type: title, ports and the params it shows
    (ROW_GAP when the type is unknown)."""
    if spec is None:
        return float(ROW_GAP)
    n = len(spec.params.model_fields)
    shown = n if n <= CARD_FIELDS + 1 else CARD_FIELDS + 1  # the last row is then "more…"
    return 70.0 + 24.0 * (len(spec.inputs) + len(spec.outputs)) + (10.0 + 20.0 * shown if n else 0.0)


def edge_id(source: str, source_port: str, target: str, target_port: str) -> str:
    return f"{source}.{source_port}->{target}.{target_port}"


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    data.setdefault("format", FORMAT)
    for key, empty in (("nodes", []), ("edges", []), ("inputs", {}), ("outputs", {})):
        data.setdefault(key, empty)
    for n in data["nodes"]:
        n.setdefault("params", {})
    return data
