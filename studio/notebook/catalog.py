"""The node types a pipeline can use, as a list that renders as a table in notebooks."""
from __future__ import annotations

import html

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

    def __repr__(self) -> str:
        return "\n".join(f"{s.type:28} {s.category:10} {_ports(s)}" for s in self)


def _ports(spec: NodeSpec) -> str:
    ins = ", ".join(f"{p.name}:{p.type.value}" for p in spec.inputs.values())
    outs = ", ".join(f"{p.name}:{p.type.value}" for p in spec.outputs.values())
    return f"({ins}) -> ({outs})"


def node_types(category: str | None = None) -> NodeCatalog:
    """Every registered node type (optionally one category: source, io, transform, tts, vc, analysis)."""
    return NodeCatalog(s for s in default_registry() if category is None or s.category == category)


def catalog_html(catalog: NodeCatalog) -> str:
    from .tables import STYLE
    rows = "".join(f"<tr><td><code>{html.escape(s.type)}</code></td><td>{html.escape(s.category)}</td>"
                   f"<td>{html.escape(_ports(s))}</td><td>{html.escape(', '.join(s.params.model_fields))}</td>"
                   f"<td>{html.escape(s.description.splitlines()[0] if s.description else '')}</td></tr>" for s in catalog)
    return (STYLE + '<table class="hs-table"><tr><th>type</th><th>category</th><th>ports</th><th>params</th>'
            "<th>description</th></tr>" + rows + "</table>")
