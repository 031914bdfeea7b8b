"""ipywidgets for notebooks: a params form generated from a node's pydantic model, and run progress.

The form edits the node through the same validating API as Python code
(`node.set(...)`), so a value the model refuses leaves the pipeline as it was
and the field's error shows under the form.
"""
from __future__ import annotations

import html
import json
import math
from typing import Any

import ipywidgets as w

from haysay.graph_engine.builder import NodeHandle, ParamError, Pipeline
from haysay.graph_engine.engine import StageEvent

SLIDER_MAX_SPAN = 1e5  # wider ranges (hours of duration, any seed) get a number box alone


def _bounds(prop: dict[str, Any]) -> tuple[float | None, float | None]:
    lo = prop.get("minimum", prop.get("exclusiveMinimum"))
    hi = prop.get("maximum", prop.get("exclusiveMaximum"))
    return lo, hi


def slider_step(prop: dict[str, Any], lo: float, hi: float) -> float:
    """A drag's precision: the field's own `multipleOf`, else a power of ten near 1/1000 of the range.

    Only a drag snaps to it; typed values and values set in Python are kept exactly."""
    if prop.get("multipleOf"):
        return float(prop["multipleOf"])
    span = hi - lo
    return 10.0 ** math.floor(math.log10(span / 1000)) if span > 0 else 1.0


def control_for(name: str, prop: dict[str, Any], value: Any) -> w.ValueWidget:
    """One input widget for a JSON-schema property: number box, dropdown, checkbox or text.

    Nothing here writes on its own: text boxes send on Enter or blur, and a number's
    slider (see `slider_for`) sends only when released."""
    unit = prop.get("unit")
    label = f"{name} ({unit})" if unit else name
    common = {"description": label, "tooltip": prop.get("description", ""),
              "style": {"description_width": "initial"}, "layout": w.Layout(width="300px")}
    kind = prop.get("type")
    if "enum" in prop:
        return w.Dropdown(options=list(prop["enum"]), value=value, **common)
    if kind == "boolean":
        return w.Checkbox(value=bool(value), **common)
    if kind in ("number", "integer"):
        # a text box shows the stored value exactly (-1.5 stays -1.5); a bounded one's slider sits beside it
        return (w.IntText if kind == "integer" else w.FloatText)(value=value, continuous_update=False, **common)
    if kind == "string":
        area = prop.get("widget") == "textarea"
        return (w.Textarea if area else w.Text)(value="" if value is None else str(value), continuous_update=False,
                                                **common)
    # unions and anything else: JSON text
    return w.Text(value=json.dumps(value), continuous_update=False, **common)


def slider_for(prop: dict[str, Any], value: Any) -> w.ValueWidget | None:
    """A drag control for a bounded number, or None. It never sends on its own (continuous_update
    off: ipywidgets' slider otherwise echoes its snapped start value back) and has no readout of
    its own; the number box beside it shows the exact value."""
    lo, hi = _bounds(prop)
    if prop.get("type") not in ("number", "integer") or lo is None or hi is None or hi - lo > SLIDER_MAX_SPAN:
        return None
    common = {"continuous_update": False, "readout": False, "layout": w.Layout(width="180px")}
    if prop["type"] == "integer":
        return w.IntSlider(min=int(lo), max=int(hi), step=1, value=int(value), **common)
    return w.FloatSlider(min=float(lo), max=float(hi), step=slider_step(prop, float(lo), float(hi)),
                         value=float(value), **common)


def _same(a: Any, b: Any) -> bool:
    # 1 == 1.0 == True in Python; a form must not turn an int param into a float one or the reverse
    return type(a) is type(b) and a == b


class ParamsForm(w.VBox):
    """A form for one node's params; every change goes through `node.set()` and is validated at once.

    Showing the form never changes the node: controls show the exact stored values and a
    param is written only when the user changes its control to another value."""

    def __init__(self, node: NodeHandle):
        self.node = node
        schema = node.spec.params.model_json_schema()
        self.properties: dict[str, dict[str, Any]] = schema.get("properties", {})
        self.controls: dict[str, w.ValueWidget] = {}
        self.sliders: dict[str, w.ValueWidget] = {}
        values = node.params.dict()
        rows = []
        for name, prop in self.properties.items():
            ctl = control_for(name, prop, values[name])
            ctl.observe(lambda change, n=name: self._edited(n, change["new"]), names="value")
            self.controls[name] = ctl
            slider = slider_for(prop, values[name])
            if slider is not None:
                slider.observe(lambda change, n=name: self._edited(n, change["new"]), names="value")
                self.sliders[name] = slider
                rows.append(w.HBox([ctl, slider]))
            else:
                rows.append(ctl)
        self.error = w.HTML("")
        self._syncing = False
        header = w.HTML(f"<b>{html.escape(node.id)}</b> <code>{html.escape(node.type)}</code>"
                        f"<div style='font-size:11px;color:#666'>{html.escape(node.spec.description)}</div>")
        super().__init__([header, *rows, self.error])
        self._unsubscribe = node.pipeline.subscribe(lambda _p: self.refresh())

    def _parse(self, name: str, value: Any) -> Any:
        prop = self.properties[name]
        if isinstance(self.controls[name], w.Text) and "type" not in prop and "enum" not in prop:
            try:
                return json.loads(value) if value.strip() else None
            except json.JSONDecodeError:
                return value
        if prop.get("type") == "number" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    def _edited(self, name: str, value: Any) -> None:
        if self._syncing:
            return
        value = self._parse(name, value)
        if _same(value, getattr(self.node.params, name)):
            self.refresh()  # e.g. a slider released where it was: nothing to write, other controls realign
            return
        try:
            self.node.set(**{name: value})
        except ParamError as exc:
            self.error.value = ("<div style='color:#c62828'>" + "<br>".join(
                f"<b>{html.escape(str(e.field))}</b>: {html.escape(e.message)}" for e in exc.errors) + "</div>")
            return
        self.error.value = ""

    def refresh(self) -> None:
        """Show the node's current values (after an edit from Python or another widget)."""
        if self.node.id not in self.node.pipeline:
            return
        values = self.node.params.dict()
        self._syncing = True
        try:
            for name, ctl in self.controls.items():
                value = values[name]
                if isinstance(ctl, w.Text) and not isinstance(value, str):
                    value = "" if value is None and "type" in self.properties[name] else json.dumps(value)
                if not _same(ctl.value, value):
                    ctl.value = value
                slider = self.sliders.get(name)
                if slider is not None and slider.value != value:
                    slider.value = value  # clamped to its range by ipywidgets, which is only its position
        finally:
            self._syncing = False

    def close(self) -> None:
        self._unsubscribe()
        super().close()


class RunProgress(w.VBox):
    """Stage-by-stage progress of a run: pass it as `on_event` (`p.run(on_event=progress)`)."""

    COLORS = {"queued": "#9e9e9e", "running": "#1e88e5", "cached": "#8e24aa", "done": "#43a047",
              "failed": "#e53935", "skipped": "#bdbdbd", "cancelled": "#bdbdbd"}

    def __init__(self, pipeline: Pipeline | None = None):
        self.rows: dict[str, tuple[w.FloatProgress, w.HTML]] = {}
        self.summary = w.HTML("")
        self.events: list[StageEvent] = []
        super().__init__([self.summary])
        for nid in (pipeline.node_ids if pipeline is not None else []):
            self._row(nid)

    def _row(self, node: str) -> tuple[w.FloatProgress, w.HTML]:
        if node not in self.rows:
            bar = w.FloatProgress(min=0.0, max=1.0, value=0.0, description=node,
                                  style={"description_width": "140px"}, layout=w.Layout(width="420px"))
            label = w.HTML("")
            self.rows[node] = (bar, label)
            self.children = [*self.children, w.HBox([bar, label])]
        return self.rows[node]

    def __call__(self, event: StageEvent) -> None:
        self.events.append(event)
        bar, label = self._row(event.node)
        if event.progress is not None:
            bar.value = float(event.progress)
        if event.status in ("done", "cached"):
            bar.value = 1.0
        bar.style.bar_color = self.COLORS.get(event.status, "#9e9e9e")
        label.value = html.escape(event.status + (f": {event.message}" if event.message else ""))
        finished = sum(1 for b, lab in self.rows.values() if b.value >= 1.0)
        self.summary.value = f"{finished}/{len(self.rows)} stages finished"

    def status(self) -> dict[str, str]:
        """{node: last status}"""
        return {ev.node: ev.status for ev in self.events}
