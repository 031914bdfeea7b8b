"""The editor's sweep dialog: run the graph over a grid of param values and rank the runs by a score.

The grid and the score are the same `node.param=v1,v2` axes and `node.metric` score the CLI's
`haysay sweep` takes; the dialog hands them to `graph_engine.sweep.run_sweep` in a worker thread
and polls what it records, so no element is touched off the event loop. "Apply best" writes the
best point's values into the editor's document.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from nicegui import ui

from haysay.graph_engine import InvalidPipeline, PortType
from haysay.graph_engine.sweep import Score, SweepPoint, SweepResult, lower_is_better, parse_axis, run_sweep

from ..elements import WaveformPlayer
from .panels import artifact_url

POLL_S = 0.3
MAX_POINTS = 64  # a studio sweep is for a few settings; bigger grids belong to `haysay sweep`


@dataclass
class SweepJob:
    """A sweep in its worker thread; `points` grows as each run ends."""

    total: int
    points: list[SweepPoint] = field(default_factory=list)
    result: SweepResult | None = None
    error: str | None = None
    errors: list = field(default_factory=list)
    finished: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)


def start_sweep(engine, doc, axes, score: Score, inputs: dict[str, Any]) -> SweepJob:
    total = 1
    for a in axes:
        total *= len(a.values)
    job = SweepJob(total)

    def work() -> None:
        try:
            job.result = run_sweep(engine, doc, axes, [score], inputs, on_point=job.points.append, cancel=job.cancel)
        except InvalidPipeline as exc:
            job.errors = list(exc.errors)
        except Exception as exc:  # noqa: BLE001 - reported in the dialog, the studio keeps going
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            job.finished = True

    threading.Thread(target=work, name="haysay-sweep", daemon=True).start()
    return job


class SweepDialog:
    """Pick params and values, a score, run the sweep, hear and rank the points, apply the best."""

    def __init__(self, page):
        self.page = page
        self.job: SweepJob | None = None
        self.rows: list[tuple[Any, Any]] = []  # (param select, values input)
        self.dialog = ui.dialog().props('persistent data-testid="sweep-dialog"')
        with self.dialog, ui.card().classes("w-[52rem] max-w-full gap-2"):
            with ui.row().classes("w-full items-center"):
                ui.label("Sweep params").classes("text-h6")
                ui.space()
                ui.button(icon="close", on_click=self.close).props('flat dense round data-testid="sweep-close"')
            ui.label("Each point runs the graph with one combination of the values; stages before the swept "
                     "params are computed once.").classes("text-grey-7 text-sm")
            self.params_box = ui.column().classes("w-full gap-1")
            ui.button("Add param", icon="add", on_click=self._add_row).props('flat dense data-testid="sweep-add-param"')
            ui.separator()
            ui.label("Score").classes("text-subtitle2")
            with ui.row().classes("w-full items-end gap-2 no-wrap"):
                self.score_node = ui.select({}, label="analysis node", on_change=lambda e: self._suggest_metric()) \
                    .classes("w-1/3").props('dense data-testid="sweep-score-node"')
                self.metric = ui.input("figure (e.g. rmse_cents, ovrl, wer)").classes("w-1/3") \
                    .props('dense data-testid="sweep-metric"')
                self.direction = ui.select({"auto": "by its name", "max": "higher is better", "min": "lower is better"},
                                           value="auto", label="better").classes("w-1/3") \
                    .props('dense data-testid="sweep-direction"')
            with ui.row().classes("w-full items-end gap-2 no-wrap"):
                self.add_type = ui.select({}, label="or add a measure").classes("w-1/3") \
                    .props('dense data-testid="sweep-add-type"')
                self.add_from = ui.select({}, label="of the stage").classes("w-1/3") \
                    .props('dense data-testid="sweep-add-from"')
                ui.button("Add", on_click=self._add_measure).props('flat dense data-testid="sweep-add-measure"')
            with ui.row().classes("w-full items-center gap-2"):
                self.run_button = ui.button("Run sweep", icon="play_arrow", on_click=self.run) \
                    .props('data-testid="sweep-run"')
                self.progress = ui.linear_progress(value=0, show_value=False).classes("grow") \
                    .props('data-testid="sweep-progress"')
                self.status = ui.label("").classes("text-sm").props('data-testid="sweep-status"')
            self.problems = ui.column().classes("w-full gap-0").props('data-testid="sweep-errors"')
            self.results = ui.column().classes("w-full gap-1").props('data-testid="sweep-results"')
        self.timer = ui.timer(POLL_S, self._poll, active=False)

    # -- choices from the current graph -----------------------------------------------
    def _specs(self) -> dict[str, Any]:
        model, registry = self.page.model, self.page.studio.registry
        return {n["id"]: registry.get(n["type"]) for n in model.doc["nodes"] if registry.get(n["type"]) is not None}

    def _param_options(self) -> dict[str, str]:
        return {f"{nid}.{name}": f"{nid}.{name}" for nid, spec in self._specs().items()
                for name in spec.params.model_fields}

    def _refresh_choices(self) -> None:
        specs = self._specs()
        scored = {nid: f"{nid} ({spec.type})" for nid, spec in specs.items()
                  if any(p.type is PortType.METRICS for p in spec.outputs.values())}
        self.score_node.set_options(scored, value=self.score_node.value if self.score_node.value in scored
                                    else next(iter(scored), None))
        registry = self.page.studio.registry
        measures = {s.type: s.title or s.type for s in (registry[t] for t in registry.types())
                    if any(p.type is PortType.METRICS for p in s.outputs.values())
                    and any(p.type is PortType.AUDIO for p in s.inputs.values())}
        self.add_type.set_options(measures, value=self.add_type.value if self.add_type.value in measures else None)
        stages = {f"{nid}.{p.name}": f"{nid}.{p.name}" for nid, spec in specs.items()
                  for p in spec.outputs.values() if p.type is PortType.AUDIO}
        self.add_from.set_options(stages, value=self.add_from.value if self.add_from.value in stages else None)
        options = self._param_options()
        for select, _ in self.rows:
            select.set_options(options, value=select.value if select.value in options else None)
        self._suggest_metric()

    def _suggest_metric(self) -> None:
        """The first figure the chosen node measured in the last run, when the metric is still empty."""
        nid = self.score_node.value
        key = self.page.keys.get(nid) if nid else None
        if self.metric.value or key is None:
            return
        try:
            spec = self._specs()[nid]
            port = next(p.name for p in spec.outputs.values() if p.type is PortType.METRICS)
            figures = self.page.studio.engine.store.open(key)[port].values
        except Exception:  # noqa: BLE001 - only a suggestion
            return
        if figures:
            self.metric.set_value(next(iter(figures)))

    def _add_row(self) -> None:
        with self.params_box:
            with ui.row().classes("w-full items-end gap-2 no-wrap") as row:
                select = ui.select(self._param_options(), label="param (node.param)", with_input=True) \
                    .classes("w-1/3").props(f'dense data-testid="sweep-param-{len(self.rows)}"')
                values = ui.input("values (comma list, or a JSON list)").classes("grow") \
                    .props(f'dense data-testid="sweep-values-{len(self.rows)}"')
                ui.button(icon="delete", on_click=lambda: self._drop_row(row, select)).props("flat dense round")
        self.rows.append((select, values))

    def _drop_row(self, row, select) -> None:
        self.rows = [r for r in self.rows if r[0] is not select]
        row.delete()

    def _add_measure(self) -> None:
        type_id, source = self.add_type.value, self.add_from.value
        if not type_id or not source:
            ui.notify("Pick a measure and the stage it measures", type="warning")
            return
        spec = self.page.studio.registry[type_id]
        port = next(p.name for p in spec.inputs.values() if p.type is PortType.AUDIO)
        model = self.page.model
        src, src_port = source.split(".", 1)
        at = model.node(src).get("position") or {}
        nid = model.add_node(type_id, float(at.get("x", 0)) + 260, float(at.get("y", 0)) + 140)
        problem = model.connect(src, src_port, nid, port)
        if problem:
            model.remove(nodes=[nid])
            ui.notify(problem, type="negative")
            return
        self.page.refresh()
        self._refresh_choices()
        self.score_node.set_value(nid)

    def open(self) -> None:
        if not self.rows:
            self._add_row()
        self._refresh_choices()
        self.dialog.open()

    def close(self) -> None:
        if self.job is not None and not self.job.finished:
            self.job.cancel.set()
        self.dialog.close()

    # -- running -----------------------------------------------------------------------
    def _problem(self, messages: list[str]) -> None:
        self.problems.clear()
        with self.problems:
            for m in messages:
                ui.label(m).classes("text-negative text-sm")

    def _grid(self) -> tuple[list, Score] | None:
        problems, axes = [], []
        for i, (select, values) in enumerate(self.rows, 1):
            if not select.value and not (values.value or "").strip():
                continue
            if not select.value:
                problems.append(f"param {i}: pick node.param")
                continue
            try:
                axes.append(parse_axis(f"{select.value}={values.value or ''}"))
            except ValueError as exc:
                problems.append(f"{select.value}: {exc}")
        if not axes and not problems:
            problems.append("pick at least one param and its values")
        nid, metric = self.score_node.value, (self.metric.value or "").strip()
        if not nid or not metric:
            problems.append("score: pick an analysis node and name its figure (or add a measure)")
        size = 1
        for a in axes:
            size *= len(a.values)
        if size > MAX_POINTS:
            problems.append(f"{size} points: a studio sweep runs at most {MAX_POINTS} (use `haysay sweep`)")
        if problems:
            self._problem(problems)
            return None
        maximize = {"max": True, "min": False}.get(self.direction.value, not lower_is_better(metric))
        return axes, Score(nid, metric, maximize)

    def run(self) -> None:
        if self.job is not None and not self.job.finished:
            self.job.cancel.set()
            self.status.text = "cancelling…"
            return
        grid = self._grid()
        if grid is None:
            return
        self.problems.clear()
        self.results.clear()
        axes, score = grid
        self.job = start_sweep(self.page.studio.engine, self.page.model.to_doc(), axes, score, dict(self.page.inputs))
        self.score = score
        self.run_button.text, self.run_button.icon = "Cancel", "stop"
        self.progress.set_value(0)
        self.status.text = f"0 / {self.job.total} points"
        self.timer.activate()

    def _poll(self) -> None:
        job = self.job
        if job is None:
            return
        done = len(job.points)
        self.progress.set_value(done / max(1, job.total))
        self.status.text = f"{done} / {job.total} points"
        if not job.finished:
            return
        self.timer.deactivate()
        self.run_button.text, self.run_button.icon = "Run sweep", "play_arrow"
        if job.errors:
            self._problem([f"{e.node}.{e.field}: {e.message}" if e.node and e.field else str(e) for e in job.errors])
            self.status.text = "not run"
        elif job.error:
            self._problem([job.error])
            self.status.text = "failed"
        elif job.result is not None:
            self.status.text = f"{len(job.result.points)} / {job.total} points" + \
                (" (cancelled)" if job.cancel.is_set() else "")
            self._show(job.result)
        self.page.history.refresh()

    # -- results -----------------------------------------------------------------------
    def _heard(self) -> tuple[str, str] | None:
        """The stage the score measures (node, port): what each row's player plays."""
        doc = self.page.model.doc
        for e in doc["edges"]:
            if str(e["to"]).split(".", 1)[0] == self.score.node:
                nid, _, port = str(e["from"]).partition(".")
                spec = self._specs().get(nid)
                if spec is not None and port in spec.outputs and spec.outputs[port].type is PortType.AUDIO:
                    return nid, port
        return None

    def _stage_keys(self, run_id: str | None) -> dict[str, str]:
        if not run_id:
            return {}
        try:
            return {st.node_id: st.cache_key for st in self.page.studio.engine.history.stages(run_id)}
        except Exception:  # noqa: BLE001 - the table still shows without players
            return {}

    def _show(self, result: SweepResult) -> None:
        self.results.clear()
        heard = self._heard()
        ranked = result.ranked()
        names = [a.name for a in result.axes]
        best = "higher" if self.score.maximize else "lower"
        with self.results:
            ui.label(f"Ranked by {self.score.name} ({best} is better)").classes("text-subtitle2")
            with ui.element("table").classes("hs-figures w-full").props('data-testid="sweep-table"'):
                with ui.element("tr"):
                    for head in ["#", *names, self.score.name, "listen"]:
                        with ui.element("td").classes("font-bold"):
                            ui.label(head)
                for rank, p in enumerate(ranked, 1):
                    with ui.element("tr").props(f'data-rank="{rank}" data-point="{p.index}"'):
                        with ui.element("td"):
                            ui.label(str(rank))
                        for n in names:
                            with ui.element("td").props(f'data-param="{n}"'):
                                ui.label(str(p.settings.get(n)))
                        with ui.element("td").props('data-score=""'):
                            v = p.scores.get(self.score.name)
                            ui.label(p.error or p.status if v is None else f"{v:.4g}")
                        with ui.element("td").classes("w-1/2"):
                            key = self._stage_keys(p.run_id).get(heard[0]) if heard else None
                            if key and self.page.studio.engine.store.exists(key):
                                WaveformPlayer(artifact_url(key, heard[1]), label=f"point {p.index}", height=40) \
                                    .props(f'data-testid="sweep-player-{rank}"')
            top = ranked[0] if ranked and ranked[0].scores else None
            if top is not None:
                ui.button("Apply best", icon="done", on_click=lambda: self.apply(top)) \
                    .props('data-testid="sweep-apply"')

    def apply(self, point: SweepPoint) -> None:
        """Set the point's values in the editor's document (undoable, like any edit)."""
        for name, value in point.settings.items():
            nid, param = name.split(".", 1)
            if self.page.model.has_node(nid):
                self.page.set_param(nid, param, value)
        self.page.refresh()
        ui.notify("Applied " + ", ".join(f"{k} = {v}" for k, v in point.settings.items()), type="positive")
