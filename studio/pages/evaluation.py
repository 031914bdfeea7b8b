"""Evaluation figures beside the compare view's loudness and peak: what the graph's analysis nodes
measured of each compared stage (DNSMOS, WER, speaker similarity, pitch error), and DNSMOS on demand.

"Measure" runs the current graph with one analysis.quality stage added on the compared stage: the
engine serves every other stage from its cache, and the figures are kept per stage, so a second
press, or the same stage compared again, runs nothing.
"""
from __future__ import annotations

import json
from typing import Any

from nicegui import ui

from haysay.graph_engine import PortType, parse_pipeline

MEASURE_TYPE = "analysis.quality"
MEASURE_ID = "compare_quality"


def _metrics_port(spec) -> str | None:
    return next((p.name for p in spec.outputs.values() if p.type is PortType.METRICS), None)


def stage_node(page, key: str) -> str | None:
    """The node of the current graph whose playable outputs are the stage `key`."""
    return next((nid for nid, k in page.keys.items() if k == key and page.model.has_node(nid)), None)


def graph_figures(page, key: str, port: str) -> dict[str, float]:
    """{node.figure: value} of the analysis nodes whose judged input (`audio`) is this stage."""
    nid = stage_node(page, key)
    if nid is None:
        return {}
    store, registry, out = page.studio.engine.store, page.studio.registry, {}
    for e in page.model.doc["edges"]:
        target, _, target_port = str(e["to"]).partition(".")
        if e["from"] != f"{nid}.{port}" or target_port != "audio" or not page.model.has_node(target):
            continue
        spec = registry.get(page.model.node(target)["type"])
        metrics, done = (_metrics_port(spec) if spec else None), page.keys.get(target)
        if metrics is None or done is None or not store.exists(done):
            continue
        try:
            values = store.open(done)[metrics].values
        except Exception:  # noqa: BLE001 - a figure missing is shown as –
            continue
        out.update({f"{target}.{k}": float(v) for k, v in values.items() if isinstance(v, (int, float))})
    return out


def quality_doc(page, key: str, port: str):
    """The current graph with analysis.quality added on the stage `key`/`port` (read on the event loop)."""
    nid = stage_node(page, key)
    if nid is None:
        raise ValueError("Measure scores stages of the current graph; run it, then pick its stage")
    data = json.loads(page.model.to_json())
    data["nodes"].append({"id": MEASURE_ID, "type": MEASURE_TYPE})
    data["edges"].append({"from": f"{nid}.{port}", "to": f"{MEASURE_ID}.audio"})
    data["outputs"] = {}
    return parse_pipeline(data)


def measure_quality(engine, doc, inputs: dict[str, Any]) -> dict[str, float]:
    """DNSMOS of the stage `quality_doc` wired, through the engine (upstream stages come from its cache)."""
    run = engine.run(doc, inputs)
    stage = run.stages.get(MEASURE_ID)
    ref = stage.outputs.get("metrics") if stage is not None else None
    if not ref:
        raise ValueError(run.error or f"quality stage {stage.status if stage else 'not run'}")
    store_key, _, out_port = ref.rpartition("/")
    return {f"quality.{k}": float(v) for k, v in engine.store.open(store_key)[out_port].values.items()}


def header_row(labels: list[str], diff: bool) -> None:
    """A figures table's first row: an empty corner, one bold label per compared stage, and B − A."""
    with ui.element("tr"):
        ui.element("td")
        for label in [*labels, *(["B − A"] if diff else [])]:
            with ui.element("td").classes("font-bold"):
                ui.label(label)


def analysis_table(columns: list[tuple[str, dict[str, float] | None]]) -> None:
    """One row per figure, one column per compared stage, and B − A when both have it."""
    names = sorted({n for _, figs in columns for n in (figs or {})})
    if not names:
        return
    with ui.element("table").classes("hs-figures").props('data-testid="analysis-figures"'):
        header_row([label for label, _ in columns], diff=True)
        for name in names:
            values = [(figs or {}).get(name) for _, figs in columns]
            with ui.element("tr").props(f'data-figure="{name}"'):
                with ui.element("td"):
                    ui.label(name)
                for (label, _), v in zip(columns, values):
                    with ui.element("td").props(f'data-col="{label}"'):
                        ui.label("–" if v is None else f"{v:.3f}")
                with ui.element("td"):
                    both = len(values) == 2 and None not in values
                    ui.label(f"{values[1] - values[0]:+.3f}" if both else "–")


class Evaluation:
    """The compare view's analysis figures and its Measure button; DNSMOS kept per stage."""

    def __init__(self, page):
        self.page = page
        self.measured: dict[str, dict[str, float]] = {}  # "key/port" -> figures

    def figures(self, key: str, port: str) -> dict[str, float]:
        return {**graph_figures(self.page, key, port), **self.measured.get(f"{key}/{port}", {})}

    def render(self, slots: dict[str, Any], rerender) -> None:
        chosen = [(slot, c) for slot, c in slots.items() if c is not None]
        analysis_table([(slot, self.figures(c[1], c[2]) if c else None) for slot, c in slots.items()])
        if not chosen:
            return
        pending = [c for _, c in chosen if f"{c[1]}/{c[2]}" not in self.measured]

        async def measure() -> None:
            from nicegui import run as ng_run
            button.disable()
            for label, key, port in pending:
                try:
                    doc = quality_doc(self.page, key, port)
                    self.measured[f"{key}/{port}"] = await ng_run.io_bound(
                        measure_quality, self.page.studio.engine, doc, dict(self.page.inputs))
                except Exception as exc:  # noqa: BLE001 - said beside the button, the view stays
                    ui.notify(f"Cannot measure {label}: {exc}", type="negative", position="bottom")
            rerender()

        button = ui.button("Measure (DNSMOS)", icon="speed", on_click=measure) \
            .props('dense outline data-testid="compare-measure"') \
            .tooltip("Score the compared stages with analysis.quality (DNSMOS); kept per stage")
        if not pending:
            button.disable()
