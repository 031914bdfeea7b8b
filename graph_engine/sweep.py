"""Parameter sweeps: run one pipeline over a grid of param values and rank the runs by measured scores.

Each grid point is the same pipeline with `node.param` overrides, run through the Engine, so stages
upstream of the swept params keep their cache keys and are computed once; only the stages a point
changes recompute. Scores are figures of analysis stages (`Metrics` outputs): `node.metric`.
"""
from __future__ import annotations

import csv
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import GraphError, InvalidPipeline
from .pipeline import PipelineDoc
from .values import Audio, Metrics, PortType

# figures where lower is better; every other figure is maximized unless told otherwise
_LOWER_IS_BETTER = re.compile(r"(^|_)(wer|cer|rmse|mse|error|errors|loss|distance|gross)(_|$)", re.IGNORECASE)


def lower_is_better(metric: str) -> bool:
    """The default direction of a figure by its name: error rates and RMSEs fall, the rest rise."""
    return bool(_LOWER_IS_BETTER.search(metric))


@dataclass(frozen=True)
class Axis:
    """One swept param and the values it takes."""

    node: str
    param: str
    values: tuple[Any, ...]

    @property
    def name(self) -> str:
        return f"{self.node}.{self.param}"


@dataclass(frozen=True)
class Score:
    """A figure `metric` of the analysis stage `node`; `maximize` says which way is better."""

    node: str
    metric: str
    maximize: bool

    @property
    def name(self) -> str:
        return f"{self.node}.{self.metric}"


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def parse_axis(text: str) -> Axis:
    """`node.param=v1,v2,...` (each value JSON when it parses, else a string). Raises ValueError."""
    target, sep, raw = text.partition("=")
    node, dot, param = target.strip().partition(".")
    if not sep or not dot or not node or not param:
        raise ValueError(f"a grid axis is node.param=v1,v2,..., got {text!r}")
    if raw.strip().startswith("["):  # a JSON list, for values that hold commas
        values = _value(raw)
        if not isinstance(values, list):
            raise ValueError(f"grid {target}: {raw!r} is not a JSON list")
    else:
        values = [_value(v.strip()) for v in raw.split(",") if v.strip()]
    if not values:
        raise ValueError(f"grid {target}: no values given")
    return Axis(node, param, tuple(values))


def as_axes(grid: Mapping[str, Any] | list[str] | list[Axis]) -> list[Axis]:
    """A grid given as {"node.param": [values]} (notebook), `node.param=...` strings (CLI) or Axis."""
    if isinstance(grid, Mapping):
        out = []
        for target, values in grid.items():
            node, dot, param = str(target).partition(".")
            if not dot or not node or not param:
                raise ValueError(f"a grid key is node.param, got {target!r}")
            values = list(values) if isinstance(values, (list, tuple, range)) else [values]
            if not values:
                raise ValueError(f"grid {target}: no values given")
            out.append(Axis(node, param, tuple(values)))
        return out
    return [a if isinstance(a, Axis) else parse_axis(a) for a in grid]


def parse_score(text: str, maximize: bool | None = None) -> Score:
    """`node.metric`; direction from `maximize`, else by the metric's name (see lower_is_better)."""
    node, dot, metric = str(text).strip().partition(".")
    if not dot or not node or not metric:
        raise ValueError(f"a score is node.metric (an analysis node's figure), got {text!r}")
    return Score(node, metric, (not lower_is_better(metric)) if maximize is None else bool(maximize))


def check_sweep(doc: PipelineDoc, axes: list[Axis], scores: list[Score], registry,
                inputs: Mapping[str, Any] | None = None) -> list[GraphError]:
    """Every problem with the grid and scores, located at node.param / node.metric, before any run:
    unknown nodes or params, values a param refuses (range, type), scores on a stage without Metrics."""
    from .graph import plan
    errors: list[GraphError] = []
    nodes = {n.id: n for n in doc.nodes}
    seen: set[str] = set()
    for axis in axes:
        where = axis.param  # located as node.param, the field a form shows
        if axis.name in seen:
            errors.append(GraphError("invalid_grid", f"grid: {axis.name} is swept twice", node=axis.node, field=where))
            continue
        seen.add(axis.name)
        n = nodes.get(axis.node)
        if n is None:
            errors.append(GraphError("unknown_node", f"the grid names no node {axis.node!r} (nodes: "
                                     f"{', '.join(nodes) or 'none'})", node=axis.node, field=where))
            continue
        spec = registry.get(n.type)
        if spec is None:
            continue  # plan reports the unknown type
        if axis.param not in spec.params.model_fields:
            errors.append(GraphError("invalid_param", f"{n.type} has no param {axis.param!r} (params: "
                                     f"{', '.join(spec.params.model_fields) or 'none'})", node=axis.node, field=where))
            continue
        for v in axis.values:
            p = plan(doc, registry, inputs, [(axis.node, axis.param, v)], check_files=False)
            for e in p.errors:
                if e.node == axis.node and e.field == axis.param:
                    errors.append(GraphError(e.code, f"grid value {v!r}: {e.message}", node=axis.node, field=where))
    for score in scores:
        where = score.metric
        n = nodes.get(score.node)
        if n is None:
            errors.append(GraphError("unknown_node", f"the score names no node {score.node!r} (nodes: "
                                     f"{', '.join(nodes) or 'none'})", node=score.node, field=where))
            continue
        spec = registry.get(n.type)
        if spec is not None and not any(p.type == PortType.METRICS for p in spec.outputs.values()):
            errors.append(GraphError("invalid_score", f"{score.node} ({n.type}) measures nothing: a score comes "
                                     "from an analysis node's Metrics output", node=score.node, field=where))
    if not errors:
        base = plan(doc, registry, inputs, None, check_files=True)
        errors.extend(base.errors)
    return errors


@dataclass
class SweepPoint:
    """One run of the grid: its settings, scores, every analysis figure and its outputs."""

    index: int
    settings: dict[str, Any]
    run_id: str | None = None
    status: str = "pending"
    error: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Metrics] = field(default_factory=dict)  # analysis node -> its figures
    outputs: dict[str, str] = field(default_factory=dict)  # pipeline output -> artifact ref "key/port"
    files: dict[str, str] = field(default_factory=dict)  # pipeline output -> written file
    computed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict, repr=False)  # pipeline output -> value


@dataclass
class SweepResult:
    axes: list[Axis]
    scores: list[Score]
    points: list[SweepPoint]

    def ranked(self) -> list[SweepPoint]:
        """Best first by the first score, ties broken by the next; points without a score last."""
        def key(p: SweepPoint):
            out = []
            for s in self.scores:
                v = p.scores.get(s.name)
                out.append((v is None, 0.0 if v is None else (-v if s.maximize else v)))
            return out, p.index
        return sorted(self.points, key=key)

    def rows(self) -> list[dict[str, Any]]:
        """The ranked table: rank, settings, scores, then the other figures, status and outputs."""
        score_names = [s.name for s in self.scores]
        lowered = {n.lower() for n in score_names}
        extra = sorted({f"{n}.{k}" for p in self.points for n, m in p.metrics.items() for k in m.values
                        if f"{n}.{k}".lower() not in lowered})
        rows = []
        for rank, p in enumerate(self.ranked(), 1):
            row: dict[str, Any] = {"rank": rank, "point": p.index}
            row.update({a.name: p.settings.get(a.name) for a in self.axes})
            row.update({n: p.scores.get(n) for n in score_names})
            figures = {f"{n}.{k}": v for n, m in p.metrics.items() for k, v in m.values.items()}
            row.update({n: figures.get(n) for n in extra})
            row.update({"status": p.status, "run_id": p.run_id, "computed": len(p.computed), "cached": len(p.cached)})
            for name, ref in p.outputs.items():
                row[f"{name}.artifact"] = ref
            for name, path in p.files.items():
                row[f"{name}.file"] = path
            if p.error:
                row["error"] = p.error
            rows.append(row)
        return rows

    def to_dataframe(self):
        import pandas as pd
        return pd.DataFrame(self.rows()).set_index("rank")

    def markdown(self) -> str:
        rows = self.rows()
        cols = [c for c in rows[0] if not c.endswith(".artifact") and c not in ("run_id",)] if rows else []
        def cell(v):
            return "" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v).replace("|", "\\|")
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
        best = ", ".join(f"{s.name} ({'higher' if s.maximize else 'lower'} is better)" for s in self.scores)
        return f"Ranked by {best}.\n\n" + "\n".join(lines) + "\n"


def run_sweep(engine, doc: PipelineDoc, grid, scores, inputs: Mapping[str, Any] | None = None,
              use_cache: bool = True, on_point: Callable[[SweepPoint], None] | None = None,
              output_dir: str | Path | None = None, cancel=None) -> SweepResult:
    """Run every point of the cartesian grid in turn on `engine`; raises InvalidPipeline (with every
    located problem) before running anything. `scores`: Score objects or `node.metric` strings."""
    axes = as_axes(grid)
    scores = [s if isinstance(s, Score) else parse_score(s) for s in ([scores] if isinstance(scores, (str, Score))
                                                                       else scores)]
    if not scores:
        raise InvalidPipeline([GraphError("invalid_score", "a sweep needs at least one score (node.metric)",
                                          field="score")])
    errors = check_sweep(doc, axes, scores, engine.registry, inputs)
    if errors:
        raise InvalidPipeline(errors)
    result = SweepResult(axes, scores, [])
    for i, combo in enumerate(itertools.product(*(a.values for a in axes)), 1):
        if cancel is not None and cancel.is_set():
            break
        point = SweepPoint(i, {a.name: v for a, v in zip(axes, combo)})
        overrides = [(a.node, a.param, v) for a, v in zip(axes, combo)]
        point_dir = None if output_dir is None else Path(output_dir) / f"point_{i:02d}"
        try:
            run = engine.run(doc, inputs, overrides, use_cache=use_cache, output_dir=point_dir, cancel=cancel)
        except InvalidPipeline as exc:
            point.status, point.error = "invalid", "; ".join(str(e) for e in exc.errors)
        else:
            _collect(engine, doc, run, point, scores)
        result.points.append(point)
        if on_point is not None:
            on_point(point)
    return result


def _collect(engine, doc: PipelineDoc, run, point: SweepPoint, scores: list[Score]) -> None:
    point.run_id, point.status, point.error = run.run_id, run.status, run.error
    point.computed, point.cached = list(run.computed), list(run.cached)
    point.values = dict(run.outputs)
    for name, target in doc.outputs.items():
        nid, _, port = str(target).partition(".")
        ref = run.stages.get(nid).outputs.get(port) if nid in run.stages else None
        if ref:
            point.outputs[name] = ref
    for nid, stage in run.stages.items():
        spec = engine.registry.get(stage.type)
        if spec is None or stage.status not in ("done", "cached") and not stage.cache_hit:
            continue
        for port, p in spec.outputs.items():
            ref = stage.outputs.get(port)
            if p.type == PortType.METRICS and ref:
                key, _, port_name = ref.rpartition("/")
                point.metrics[nid] = engine.store.open(key)[port_name]
    for s in scores:
        m = point.metrics.get(s.node)
        # figures are matched without case: DNSMOS's OVRL is stored as `ovrl`
        name = next((k for k in (m.values if m is not None else ()) if k.lower() == s.metric.lower()), None)
        if name is not None:
            point.scores[s.name] = m.values[name]
        elif point.status == "succeeded":
            have = ", ".join(m.values) if m is not None else "nothing"
            point.error = (point.error + "; " if point.error else "") + f"{s.node} measured no {s.metric!r} (it has: {have})"


def write_report(result: SweepResult, out_dir: str | Path, audio_format: str = "wav") -> dict[str, Path]:
    """Write each point's audio outputs, the ranked table (CSV + markdown) and the plot into `out_dir`."""
    from .audiofile import write_audio
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for p in result.points:
        for name, value in p.values.items():
            if isinstance(value, Audio):
                safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
                p.files[name] = str(write_audio(out / f"point_{p.index:02d}" / f"{safe}.{audio_format}", value,
                                                audio_format))
    rows = result.rows()
    paths = {"csv": out / "sweep.csv", "markdown": out / "sweep.md", "plot": out / "sweep.png"}
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    with open(paths["csv"], "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    paths["markdown"].write_text(result.markdown())
    plot(result, paths["plot"])
    return paths


def plot(result: SweepResult, path: str | Path, width_px: int = 1200, height_per_row_px: int = 400) -> Path:
    """Each score (rows) against each swept param (columns): every point, and the mean per value."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows, cols, dpi = max(1, len(result.scores)), max(1, len(result.axes)), 100
    fig, grid = plt.subplots(rows, cols, figsize=(width_px / dpi, height_per_row_px * rows / dpi), dpi=dpi,
                             squeeze=False)
    for r, score in enumerate(result.scores):
        for c, axis in enumerate(result.axes):
            ax = grid[r][c]
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in axis.values)
            xs_of = {v: (float(v) if numeric else i) for i, v in enumerate(axis.values)}
            pts = [(xs_of[p.settings[axis.name]], p.scores[score.name]) for p in result.points
                   if score.name in p.scores and p.settings.get(axis.name) in xs_of]
            if pts:
                ax.scatter([x for x, _ in pts], [y for _, y in pts], alpha=0.6, label="points")
                means = sorted((x, sum(y for xx, y in pts if xx == x) / sum(1 for xx, _ in pts if xx == x))
                               for x in {x for x, _ in pts})
                ax.plot([x for x, _ in means], [y for _, y in means], marker="o", label="mean")
            if not numeric:
                ax.set_xticks(list(xs_of.values()), [str(v) for v in axis.values])
            ax.set_xlabel(axis.name)
            ax.set_ylabel(f"{score.name} ({'higher' if score.maximize else 'lower'} is better)")
            ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return Path(path)
