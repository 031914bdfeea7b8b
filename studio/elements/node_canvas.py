"""NodeCanvas: the vue-flow graph editor as a NiceGUI element."""
from __future__ import annotations

from typing import Any, Callable

from nicegui import ui
from nicegui.events import GenericEventArguments

from haysay.studio.bundle import BUNDLE_DIR

# Port types as colours: handles and edges of one type share a colour so a
# mismatch is visible before it is refused.
PORT_COLORS = {"Audio": "#43a047", "Text": "#fb8c00", "F0": "#1e88e5", "Features": "#8e24aa", "Any": "#757575"}

EVENTS = ("connect", "move", "select", "delete", "duplicate", "undo", "redo", "drop", "play", "search", "copy", "paste", "menu",
          "param", "mode", "group", "via")


class NodeCanvas(ui.element, component="node_canvas.js", esm={"haysay-studio": str(BUNDLE_DIR)}):
    """A pan/zoom node canvas with typed, coloured port handles, a minimap,
    zoom controls and per-node state badges.

    The Python side owns the graph: `set_graph()` pushes nodes and edges,
    and user intents arrive as events (`on("connect", handler)` etc., with
    `e.args` a dict). Events: connect {source, source_port, target,
    target_port}, move {nodes: [{id, x, y}]}, select {node}, delete {nodes,
    edges}, duplicate {nodes}, undo, redo, drop {type, x, y}, play {node, port}, search {x, y,
    screen_x, screen_y, wire?: {node, port, kind}} (a double click on the empty canvas, or a wire
    let go there), copy {nodes}, paste {x, y}, menu {node, nodes, screen_x, screen_y} (a right click),
    param {node, field, value} (a valid edit on a card's param input), mode {nodes, mode} (Ctrl+B /
    Ctrl+M: "bypass", "mute" or null), group {op: "create", nodes} (Ctrl+G) | {op: "rename", id,
    title} | {op: "ungroup", id} (the frame's buttons), via {edge, via: [{x, y}]} (a wire's reroute
    points after a double click on it, a point dragged or right-clicked away).

    `attach(model, set_param, refresh)` lets the cards show and edit params: `set_graph` then adds each
    node's stored params, its type's params schema and its mode from the GraphModel, param edits go
    to `set_param(node, field, value)` (the side panel's path), and mode toggles and groups (the
    document's top-level "groups": [{id, title, nodes, color}]) edit the model here.
    """

    def __init__(self) -> None:
        super().__init__()
        self.add_resource(BUNDLE_DIR)
        self._props["nodes"] = []
        self._props["edges"] = []
        self._props["states"] = {}
        self._props["errors"] = {}
        self._props["colors"] = dict(PORT_COLORS)
        self._props["groups"] = []
        self._model = None
        self._schemas: dict[str, dict] = {}

    def attach(self, model, set_param: Callable[[str, str, Any], Any], refresh: Callable[[], Any]) -> "NodeCanvas":
        """Edit `model` (a studio GraphModel) on the cards: params through `set_param`, modes here."""
        self._model = model
        self._refresh = refresh
        self.on_event("param", lambda a: set_param(str(a.get("node")), str(a.get("field")), a.get("value"))
                      if self._model.has_node(str(a.get("node"))) else None)
        self.on_event("mode", self._set_mode)
        self.on_event("group", self._group)
        self.on_event("via", self._set_via)
        return self

    def edit(self, model) -> None:
        """Edit `model` from now on (another workflow tab's): cards, modes, groups and wires go to it."""
        self._model = model

    def _set_via(self, a: dict[str, Any]) -> None:
        try:
            via = [{"x": float(p["x"]), "y": float(p["y"])} for p in a.get("via") or []]
        except (KeyError, TypeError, ValueError):
            return
        if self._model.set_via(str(a.get("edge")), via):
            self._refresh()

    def _group(self, a: dict[str, Any]) -> None:
        op = a.get("op")
        changed = (self._model.group(list(a.get("nodes") or [])) is not None if op == "create"
                   else self._model.rename_group(str(a.get("id")), str(a.get("title") or "")) if op == "rename"
                   else self._model.ungroup(str(a.get("id"))) if op == "ungroup" else False)
        if changed:
            self._refresh()

    def _set_mode(self, a: dict[str, Any]) -> None:
        if self._model.set_mode(list(a.get("nodes") or []), a.get("mode")):
            self._refresh()

    def _schema(self, node_type: str) -> dict | None:
        if node_type not in self._schemas:
            spec = self._model.registry.get(node_type)
            schema = spec.params.model_json_schema() if spec else {}
            self._schemas[node_type] = {"properties": schema.get("properties", {}), "defs": schema.get("$defs", {})} \
                if spec else None
        return self._schemas[node_type]

    def on_event(self, name: str, handler: Callable[[dict[str, Any]], Any]) -> "NodeCanvas":
        if name not in EVENTS:
            raise ValueError(f"unknown canvas event {name!r}; one of {EVENTS}")
        self.on(name, lambda e: handler(_args(e)))
        return self

    def set_graph(self, nodes: list[dict], edges: list[dict]) -> None:
        if self._model is not None:
            for n in nodes:
                if self._model.has_node(n["id"]):
                    doc = self._model.node(n["id"])
                    n["data"] = {**n["data"], "params": dict(doc.get("params") or {}),
                                 "schema": self._schema(doc["type"]), "mode": doc.get("mode")}
            self._props["groups"] = list(self._model.doc.get("groups") or [])
            via = {f"{e['from']}->{e['to']}": e["via"] for e in self._model.doc["edges"] if e.get("via")}
            for e in edges:
                if e["id"] in via:
                    e["data"] = {**e.get("data", {}), "via": via[e["id"]]}
        self._props["nodes"] = nodes
        self._props["edges"] = edges
        self.update()

    def set_states(self, states: dict[str, dict]) -> None:
        """{node_id: {status, progress, message}}; status as in the engine's StageEvent."""
        self._props["states"] = states
        self.update()

    def set_errors(self, errors: dict[str, list[str]]) -> None:
        self._props["errors"] = errors
        self.update()

    def fit_view(self) -> None:
        self.run_method("fit_view")

    async def center(self) -> dict[str, float]:
        """The flow coordinates at the middle of the visible canvas."""
        return await self.run_method("flow_center")


def _args(e: GenericEventArguments) -> dict[str, Any]:
    return e.args if isinstance(e.args, dict) else {}
