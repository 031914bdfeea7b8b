"""A pipeline as an SVG picture: layered by topological depth, nodes labelled id/type, ports on edges."""
from __future__ import annotations

import html

from haysay.graph_engine.builder import Pipeline, layered_positions

# Port types as colours, as on the studio canvas.
PORT_COLORS = {"Audio": "#43a047", "Text": "#fb8c00", "F0": "#1e88e5", "Features": "#8e24aa", "Any": "#757575"}
NODE_W, NODE_H, DX, DY, PAD = 180, 58, 250, 96, 24


def _port_type(pipeline: Pipeline, node_id: str, port: str) -> str:
    spec = pipeline.registry.get(pipeline.doc.node(node_id).type)
    if spec is None or port not in spec.outputs:
        return "Any"
    return spec.outputs[port].type.value


def pipeline_svg(pipeline: Pipeline, error_nodes: set[str] | None = None) -> str:
    """SVG markup with one `<g class="hs-node" data-node=...>` per pipeline node."""
    g = pipeline.graph()
    error_nodes = error_nodes or set()
    pos = {nid: (x + PAD, y + PAD) for nid, (x, y) in layered_positions(g, DX, DY).items()}
    width = max((x for x, _ in pos.values()), default=0) + NODE_W + PAD
    height = max((y for _, y in pos.values()), default=0) + NODE_H + PAD
    outputs: dict[str, list[str]] = {}
    for name, ref in pipeline.doc.outputs.items():
        outputs.setdefault(ref.split(".", 1)[0], []).append(name)
    inputs: dict[str, list[str]] = {}
    for name, inp in pipeline.doc.inputs.items():
        inputs.setdefault(inp.bind.split(".", 1)[0], []).append(name)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="hs-graph" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">']
    for u, v, data in g.edges(data=True):
        x1, y1 = pos[u][0] + NODE_W, pos[u][1] + NODE_H / 2
        x2, y2 = pos[v][0], pos[v][1] + NODE_H / 2
        mx = (x1 + x2) / 2
        for k, (sp, tp) in enumerate(data["ports"]):
            color = PORT_COLORS.get(_port_type(pipeline, u, sp), "#757575")
            dy = k * 12
            parts.append(f'<path class="hs-edge" data-edge="{html.escape(f"{u}.{sp}->{v}.{tp}")}" '
                         f'd="M{x1},{y1 + dy} C{mx},{y1 + dy} {mx},{y2 + dy} {x2},{y2 + dy}" '
                         f'fill="none" stroke="{color}" stroke-width="2"/>')
            label = sp if sp == tp else f"{sp} → {tp}"
            parts.append(f'<text x="{mx}" y="{(y1 + y2) / 2 + dy - 4}" text-anchor="middle" fill="#555" '
                         f'font-size="10">{html.escape(label)}</text>')
    for nid, attrs in g.nodes(data=True):
        x, y = pos[nid]
        stroke = "#e53935" if nid in error_nodes else "#90a4ae"
        kind = f'{attrs["title"]} · {attrs["type"]}' if attrs.get("title") else attrs["type"]
        extra = " ".join([*(f"⇐{n}" for n in inputs.get(nid, [])), *(f"⇒{n}" for n in outputs.get(nid, []))])
        parts.append(f'<g class="hs-node" data-node="{html.escape(nid)}">'
                     f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="8" fill="#fafafa" '
                     f'stroke="{stroke}" stroke-width="1.5"/>'
                     f'<text x="{x + 10}" y="{y + 20}" font-weight="bold">{html.escape(nid)}</text>'
                     f'<text x="{x + 10}" y="{y + 36}" fill="#607d8b">{html.escape(kind)}</text>'
                     + (f'<text x="{x + 10}" y="{y + 51}" fill="#8e24aa" font-size="10">{html.escape(extra)}</text>'
                        if extra else "") + "</g>")
    parts.append("</svg>")
    return "".join(parts)
