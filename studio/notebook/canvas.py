"""The node canvas as a Jupyter widget, kept in sync with a Python `Pipeline` both ways.

The front end is the studio's own vue-flow editor (studio/frontend/src/NodeCanvas.js),
built a second time by studio/frontend/build.sh into bundle/notebook_canvas.js: one
self-contained ES module with Vue bundled in, since Jupyter has neither NiceGUI's
import map nor its Vue app. Connect by dragging an output handle to an input, drag
nodes to move them, select and press Delete to remove, Ctrl+D to duplicate,
Ctrl+Z / Ctrl+Shift+Z to undo and redo.

State is one traitlet, `doc_json` (the pipeline document). A Python edit
re-sends it; a canvas edit is parsed and validated here and applied to the
pipeline, or refused (the error shown in `error`, the old document restored).
"""
from __future__ import annotations

import json
from typing import Any, Callable

import anywidget
import traitlets

from haysay.graph_engine.builder import Pipeline, layered_positions
from haysay.graph_engine.graph import plan
from haysay.graph_engine.pipeline import PipelineFormatError, parse_pipeline
from haysay.studio.bundle import BUNDLE_DIR

# Graph problems that make an edit wrong, rather than merely unfinished (an unconnected input is normal mid-edit).
REFUSED = {"duplicate_id", "unknown_node_type", "unknown_port", "bad_edge", "port_type_mismatch", "cycle",
           "invalid_param"}


class CanvasWidget(anywidget.AnyWidget):
    _esm = BUNDLE_DIR / "notebook_canvas.js"
    doc_json = traitlets.Unicode("{}").tag(sync=True)
    specs = traitlets.Dict().tag(sync=True)          # node type -> {title, category, inputs, outputs} for the node cards
    auto_positions = traitlets.Dict().tag(sync=True) # layered positions for nodes that have none
    problems = traitlets.List().tag(sync=True)       # GraphError dicts of the current document
    error = traitlets.Unicode("").tag(sync=True)     # why the last canvas edit was refused
    states = traitlets.Dict().tag(sync=True)         # node -> {status, progress, message}, fed by `on_event`
    height = traitlets.Int(360).tag(sync=True)

    def __init__(self, pipeline: Pipeline, **kwargs):
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self._pushing = False
        self._push(pipeline)
        self._unsubscribe = pipeline.subscribe(self._push)
        self.observe(self._edited, names="doc_json")
        self._play_handlers: list[Callable[[str, str], Any]] = []
        self.on_msg(self._message)

    def _push(self, pipeline: Pipeline) -> None:
        doc = pipeline.doc
        specs = {}
        for t in {n.type for n in doc.nodes}:
            spec = pipeline.registry.get(t)
            if spec is not None:
                desc = spec.describe()
                specs[t] = {"title": spec.title, "category": spec.category,
                            "inputs": [{k: p[k] for k in ("name", "type", "optional")} for p in desc["inputs"]],
                            "outputs": [{k: p[k] for k in ("name", "type")} for p in desc["outputs"]]}
        self._pushing = True
        try:
            with self.hold_sync():
                self.specs = specs
                self.auto_positions = {k: list(v) for k, v in layered_positions(pipeline.graph()).items()}
                self.problems = [e.to_dict() for e in pipeline.validate(check_files=False)]
                self.doc_json = pipeline.to_json(indent=None)
        finally:
            self._pushing = False

    def _edited(self, change) -> None:
        if self._pushing:
            return
        try:
            doc = parse_pipeline(change["new"])
        except PipelineFormatError as exc:
            return self._refuse("; ".join(str(e) for e in exc.errors))
        refused = [e for e in plan(doc, self.pipeline.registry, check_files=False).errors if e.code in REFUSED]
        if refused:
            return self._refuse("; ".join(str(e) for e in refused))
        self.error = ""
        self.pipeline.doc = doc  # notifies subscribers, which re-sends the canonical JSON

    def _refuse(self, message: str) -> None:
        self.error = message
        self._push(self.pipeline)

    def on_event(self, event) -> None:
        """Pass as `p.run(on_event=canvas.on_event)` to show stage states on the canvas."""
        self.states = {**self.states, event.node: {"status": event.status, "progress": event.progress or 0.0,
                                                   "message": event.message}}

    def on_play(self, handler: Callable[[str, str], Any]) -> None:
        """Call `handler(node, port)` when a node card's play button is pressed (shown once a stage is done).

        E.g. `canvas.on_play(lambda node, port: display(run[node][port]))`."""
        self._play_handlers.append(handler)

    def _message(self, _widget, content, _buffers) -> None:
        if isinstance(content, dict) and content.get("event") == "play":
            for handler in self._play_handlers:
                handler(str(content.get("node", "")), str(content.get("port", "")))

    def close(self) -> None:
        self._unsubscribe()
        super().close()

    @property
    def doc(self) -> dict:
        return json.loads(self.doc_json)
