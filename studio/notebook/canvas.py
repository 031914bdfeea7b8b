"""The node canvas as a Jupyter widget, kept in sync with a Python `Pipeline` both ways.

The studio's vue-flow editor is not reused here: its bundle leaves `vue` as a
bare import that NiceGUI's import map resolves to NiceGUI's own Vue, and its
canvas component imports NiceGUI's static `resources.js` and is mounted by
NiceGUI's app. Jupyter has neither the import map nor that app, and anywidget
loads one self-contained ES module, so this widget draws the same pipeline
JSON with a small ESM of its own (canvas.js): drag nodes, drag an output to
an input to connect, double-click an edge to remove it.

State is one traitlet, `doc_json` (the pipeline document). A Python edit
re-sends it; a canvas edit is parsed and validated here and applied to the
pipeline, or refused (the error shown in `error`, the old document restored).
"""
from __future__ import annotations

import json
from pathlib import Path

import anywidget
import traitlets

from haysay.graph_engine.builder import Pipeline, layered_positions
from haysay.graph_engine.graph import plan
from haysay.graph_engine.pipeline import PipelineFormatError, parse_pipeline

HERE = Path(__file__).parent
# Graph problems that make an edit wrong, rather than merely unfinished (an unconnected input is normal mid-edit).
REFUSED = {"duplicate_id", "unknown_node_type", "unknown_port", "bad_edge", "port_type_mismatch", "cycle",
           "invalid_param"}


class CanvasWidget(anywidget.AnyWidget):
    _esm = HERE / "canvas.js"
    doc_json = traitlets.Unicode("{}").tag(sync=True)
    ports = traitlets.Dict().tag(sync=True)          # node type -> {inputs: [[name, type]], outputs: [...]}
    auto_positions = traitlets.Dict().tag(sync=True) # layered positions for nodes that have none
    problems = traitlets.List().tag(sync=True)       # GraphError dicts of the current document
    error = traitlets.Unicode("").tag(sync=True)     # why the last canvas edit was refused
    states = traitlets.Dict().tag(sync=True)         # node -> run status, fed by `on_event`
    height = traitlets.Int(360).tag(sync=True)

    def __init__(self, pipeline: Pipeline, **kwargs):
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self._pushing = False
        self._push(pipeline)
        self._unsubscribe = pipeline.subscribe(self._push)
        self.observe(self._edited, names="doc_json")

    def _push(self, pipeline: Pipeline) -> None:
        doc = pipeline.doc
        types = {n.type for n in doc.nodes}
        ports = {}
        for t in types:
            spec = pipeline.registry.get(t)
            if spec is not None:
                ports[t] = {"inputs": [[p.name, p.type.value] for p in spec.inputs.values()],
                            "outputs": [[p.name, p.type.value] for p in spec.outputs.values()]}
        self._pushing = True
        try:
            with self.hold_sync():
                self.ports = ports
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
        self.states = {**self.states, event.node: event.status}

    def close(self) -> None:
        self._unsubscribe()
        super().close()

    @property
    def doc(self) -> dict:
        return json.loads(self.doc_json)
