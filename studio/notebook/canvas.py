"""The node canvas as a Jupyter widget, editing one `Pipeline` together with Python code.

The front end is the studio's own vue-flow editor (studio/frontend/src/NodeCanvas.js),
built a second time by studio/frontend/build.sh into bundle/notebook_canvas.js: one
self-contained ES module with Vue bundled in, since Jupyter has neither NiceGUI's
import map nor its Vue app. Connect by dragging an output handle to an input, drag
nodes to move them, select and press Delete to remove, Ctrl+D to duplicate,
Ctrl+Z / Ctrl+Shift+Z to undo and redo; a selected node's params are edited under
the canvas and the palette on its left adds nodes (drag, or click to add mid-view).

Python sends the document (`doc_json`); the canvas sends operations (operations.py),
never a document, so an edit made in Python meanwhile is kept. Undo and redo are
kept here, for canvas operations only: Ctrl+Z reverts the last canvas edit, never a
Python one. A refused operation changes nothing, takes no undo step, and says why
in `error`.
"""
from __future__ import annotations

import json
from typing import Any, Callable

import anywidget
import traitlets

from haysay.graph_engine.builder import Pipeline, layered_positions
from haysay.studio.bundle import BUNDLE_DIR
from haysay.studio.graph_model import card_height as graph_card_height
from haysay.studio.palette import palette_entries

from .operations import OperationRefused, apply

UNDO_DEPTH = 100
CARD_W = 220.0  # room a node card takes across the canvas (with its gap)
DX, DY = 260.0, 160.0
CARD_H = 130.0  # the least room a card takes down the canvas


def card_height(pipeline: Pipeline, nid: str) -> float:
    """About how tall a node's card is drawn: the studio's estimate (studio.graph_model.card_height)."""
    return graph_card_height(pipeline.registry.get(pipeline.doc.node(nid).type))


def place_unplaced(pipeline: Pipeline) -> dict[str, tuple[float, float]]:
    """Positions for nodes without one: beside a placed neighbour (right of its source, left of its
    target), else below everything placed, and never on top of another card."""
    g = pipeline.graph()
    placed = {n.id: (n.position.x, n.position.y) for n in pipeline.doc.nodes if n.position is not None}
    layered = layered_positions(g, DX, DY)
    if not placed:
        return {nid: layered[nid] for nid in g}
    taken = [(x, y, card_height(pipeline, nid)) for nid, (x, y) in placed.items()]
    bottom = max(y + h for _, y, h in taken)
    left = min(x for x, _, _ in taken)
    out: dict[str, tuple[float, float]] = {}
    import networkx as nx
    order = list(nx.topological_sort(g)) if nx.is_directed_acyclic_graph(g) else list(g)
    for nid in order:
        if nid in placed:
            continue
        known = {**placed, **out}
        preds = [known[p] for p in g.predecessors(nid) if p in known]
        succs = [known[s] for s in g.successors(nid) if s in known]
        if preds:
            x, y = max(px for px, _ in preds) + DX, min(py for _, py in preds)
        elif succs:
            x, y = min(sx for sx, _ in succs) - DX, min(sy for _, sy in succs)
        else:
            x, y = left + layered[nid][0], bottom
        h = card_height(pipeline, nid)
        # a card overlaps one above it by that one's height, one below it by its own
        while any(abs(x - tx) < CARD_W and (ty <= y < ty + th or y <= ty < y + min(h, CARD_H)) for tx, ty, th in taken):
            y += DY
        out[nid] = (x, y)
        taken.append((x, y, h))
    return out


class CanvasWidget(anywidget.AnyWidget):
    _esm = BUNDLE_DIR / "notebook_canvas.js"
    doc_json = traitlets.Unicode("{}").tag(sync=True)   # the pipeline document, sent from Python only
    specs = traitlets.Dict().tag(sync=True)          # node type -> {title, category, inputs, outputs, params}
    palette = traitlets.List().tag(sync=True)        # every node type: studio.palette.palette_entries
    auto_positions = traitlets.Dict().tag(sync=True) # where nodes without a position are drawn
    problems = traitlets.List().tag(sync=True)       # GraphError dicts of the current document
    error = traitlets.Unicode("").tag(sync=True)     # why the last canvas operation was refused
    states = traitlets.Dict().tag(sync=True)         # node -> {status, progress, message}, fed by `on_event`
    fit = traitlets.Int(0).tag(sync=True)            # bumped when Python adds nodes: the canvas fits its view
    can_undo = traitlets.Bool(False).tag(sync=True)
    can_redo = traitlets.Bool(False).tag(sync=True)
    height = traitlets.Int(360).tag(sync=True)

    def __init__(self, pipeline: Pipeline, **kwargs):
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.undo_stack: list[list[dict[str, Any]]] = []
        self.redo_stack: list[list[dict[str, Any]]] = []
        self._play_handlers: list[Callable[[str, str], Any]] = []
        self._output = None
        self._ids: set[str] = set()
        self._applying = False
        self.palette = palette_entries(pipeline.registry)
        self._push(pipeline)
        self._unsubscribe = pipeline.subscribe(self._push)
        self.on_msg(self._message)

    def _push(self, pipeline: Pipeline) -> None:
        doc = pipeline.doc
        specs = {}
        for t in {n.type for n in doc.nodes}:
            spec = pipeline.registry.get(t)
            if spec is not None:
                desc = spec.describe()
                schema = desc["params_schema"]
                specs[t] = {"title": spec.title, "category": spec.category,
                            "inputs": [{k: p[k] for k in ("name", "type", "optional")} for p in desc["inputs"]],
                            "outputs": [{k: p[k] for k in ("name", "type")} for p in desc["outputs"]],
                            "params": {"properties": schema.get("properties", {}), "required": schema.get("required", []),
                                       "defs": schema.get("$defs", {})}}
        ids = {n.id for n in doc.nodes}
        added_elsewhere = bool(ids - self._ids) and not self._applying and bool(self._ids)
        self._ids = ids
        with self.hold_sync():
            self.specs = specs
            self.auto_positions = {k: list(v) for k, v in place_unplaced(pipeline).items()}
            self.problems = [e.to_dict() for e in pipeline.validate(check_files=False)]
            self.doc_json = pipeline.to_json(indent=None)
            if added_elsewhere:
                self.fit += 1

    # operations from the canvas
    def apply_ops(self, ops: list[dict[str, Any]]) -> bool:
        """Apply a canvas edit (what the front end sends); False, with `error` set, when refused."""
        if self._run(ops, self.undo_stack):
            self.redo_stack.clear()
            self._stacks()
            return True
        return False

    def undo(self) -> bool:
        """Revert the last canvas edit (only canvas edits are on this stack)."""
        return self._step(self.undo_stack, self.redo_stack, "undo")

    def redo(self) -> bool:
        return self._step(self.redo_stack, self.undo_stack, "redo")

    def _step(self, source: list, target: list, name: str) -> bool:
        if not source:
            return False
        batch = source.pop()
        ok = self._run(batch, target, prefix=f"cannot {name}: ")
        self._stacks()
        return ok

    def _run(self, ops: list[dict[str, Any]], stack: list, prefix: str = "") -> bool:
        self._applying = True
        try:
            inverse = apply(self.pipeline, ops)
        except OperationRefused as exc:
            self.error = prefix + str(exc)
            return False
        finally:
            self._applying = False
        self.error = ""
        if inverse:
            stack.append(inverse)
            del stack[:-UNDO_DEPTH]
        return True

    def _stacks(self) -> None:
        self.can_undo, self.can_redo = bool(self.undo_stack), bool(self.redo_stack)

    def on_event(self, event) -> None:
        """Pass as `p.run(on_event=canvas.on_event)` to show stage states on the canvas."""
        self.states = {**self.states, event.node: {"status": event.status, "progress": event.progress or 0.0,
                                                   "message": event.message}}

    @property
    def output(self):
        """An ipywidgets Output where play buttons' players appear: `display(canvas, canvas.output)`."""
        if self._output is None:
            import ipywidgets
            self._output = ipywidgets.Output()
        return self._output

    def on_play(self, handler) -> None:
        """What a node card's play button (shown once a stage is done) does.

        Pass a run to hear its stages: `canvas.on_play(run)`, or a function of (node, port)
        whose result is shown: `canvas.on_play(lambda node, port: run[node].play())`.
        Players appear in `canvas.output`: `display(canvas, canvas.output)`."""
        if hasattr(handler, "result") and hasattr(handler, "__getitem__"):  # a PipelineRun
            run = handler

            def handler(node: str, port: str):
                from haysay.graph_engine.run_view import Player
                value = run[node].value(port or None)
                return Player(value, f"{node}.{port}") if hasattr(value, "sample_rate") else value
        self._play_handlers.append(handler)

    def _message(self, _widget, content, _buffers) -> None:
        if not isinstance(content, dict):
            return
        event = content.get("event")
        if event == "ops":
            self.apply_ops(list(content.get("ops") or []))
        elif event == "undo":
            self.undo()
        elif event == "redo":
            self.redo()
        elif event == "play":
            self.play(str(content.get("node", "")), str(content.get("port", "")))

    def play(self, node: str, port: str) -> None:
        """What pressing a node card's play button does."""
        out = self.output
        for handler in self._play_handlers:
            try:
                with out:
                    result = handler(node, port)
            except Exception as exc:  # noqa: BLE001 - shown where the user is looking, not lost in a log
                out.append_stdout(f"play {node}.{port}: {type(exc).__name__}: {exc}\n")
                continue
            if result is not None:
                from .live_audio import bundle_for

                out.clear_output()
                # the bundle display would show (a live player or the embedded preview); append_display_data
                # would ask IPython's formatters, whose display hook for players shows them elsewhere
                out.outputs = (*out.outputs, {"output_type": "display_data", "data": bundle_for(result),
                                              "metadata": {}})

    def close(self) -> None:
        self._unsubscribe()
        super().close()

    @property
    def doc(self) -> dict:
        return json.loads(self.doc_json)
