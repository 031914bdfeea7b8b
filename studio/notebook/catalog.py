"""The node types a pipeline can use, as a list that renders as a table in notebooks.

Each type comes with its params' defaults, ranges, units and descriptions, the same
details `haysay nodes` prints; `params_frame()` gives them as one DataFrame row per param."""
from __future__ import annotations

import html
from typing import Any

from haysay.graph_engine.builder import _param_line, param_rows
from haysay.graph_engine.contract import NodeSpec, default_registry
from haysay.graph_engine.run_view import Displayable


class NodeCatalog(list, Displayable):
    """NodeSpecs ordered by category and type; `catalog["gen.tone"]` finds one."""

    def __getitem__(self, key):
        if isinstance(key, str):
            for spec in self:
                if spec.type == key:
                    return spec
            raise KeyError(f"unknown node type {key!r}")
        return super().__getitem__(key)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per param of every type: node_type, param, type, default, min, max, unit, description."""
        return [{"node_type": s.type, **r} for s in self for r in param_rows(s)]

    def params_frame(self):
        """`rows()` as a pandas DataFrame (pandas comes with the notebook extra)."""
        import pandas as pd
        return pd.DataFrame(self.rows(), columns=["node_type", "param", "type", "default", "min", "max", "unit",
                                                  "description"])

    def _ipython_key_completions_(self) -> list[str]:
        return [s.type for s in self]

    def __repr__(self) -> str:
        out = []
        for s in self:
            out.append(f"{s.type:28} {s.category:10} {_ports(s)}")
            first = s.description.splitlines()[0] if s.description else ""
            if first:
                out.append(f"    {first}")
            out += ["    - " + _param_line(r).replace("\n    ", "  ") for r in param_rows(s)]
        return "\n".join(out)


def _ports(spec: NodeSpec) -> str:
    ins = ", ".join(f"{p.name}:{p.type.value}" for p in spec.inputs.values())
    outs = ", ".join(f"{p.name}:{p.type.value}" for p in spec.outputs.values())
    return f"({ins}) -> ({outs})"


def node_types(category: str | None = None) -> NodeCatalog:
    """Every registered node type (optionally one category: source, io, transform, tts, vc, analysis)."""
    return NodeCatalog(s for s in default_registry() if category is None or s.category == category)


def _params_cell(spec: NodeSpec) -> str:
    return "<br>".join(
        f"<code>{html.escape(r['param'])}</code> {html.escape(_param_line(r).split(': ', 1)[1].split(chr(10))[0])}"
        + (f" <span class='hs-note'>{html.escape(r['description'])}</span>" if r["description"] else "")
        for r in param_rows(spec))


def catalog_html(catalog: NodeCatalog) -> str:
    from .tables import STYLE
    rows = "".join(f"<tr><td><code>{html.escape(s.type)}</code></td><td>{html.escape(s.category)}</td>"
                   f"<td>{html.escape(_ports(s))}</td><td>{_params_cell(s)}</td>"
                   f"<td>{html.escape(s.description.splitlines()[0] if s.description else '')}</td></tr>" for s in catalog)
    return (STYLE + '<table class="hs-table"><tr><th>type</th><th>category</th><th>ports</th><th>params</th>'
            "<th>description</th></tr>" + rows + "</table>")
