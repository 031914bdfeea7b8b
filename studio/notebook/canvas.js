// anywidget front end of CanvasWidget: draws the pipeline JSON (doc_json) as an SVG
// node graph. Edits (move, connect, remove an edge) are written back into doc_json,
// which Python validates and either applies or refuses (then `error` says why).
const COLORS = { Audio: "#43a047", Text: "#fb8c00", F0: "#1e88e5", Features: "#8e24aa", Any: "#757575" };
const STATUS = { queued: "#9e9e9e", running: "#1e88e5", cached: "#8e24aa", done: "#43a047", failed: "#e53935", skipped: "#bdbdbd" };
const W = 190, ROW = 18, HEAD = 38;
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, parent) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function render({ model, el: root }) {
  root.classList.add("hs-canvas");
  const banner = document.createElement("div");
  banner.style.cssText = "color:#c62828;font:12px sans-serif;min-height:14px";
  const svg = el("svg", { width: "100%" });
  svg.style.cssText = "border:1px solid #ddd;border-radius:6px;background:#fcfcfc;font:12px sans-serif;user-select:none";
  root.append(banner, svg);
  let drag = null; // {kind: "node", id, dx, dy} | {kind: "wire", from, line}

  const doc = () => JSON.parse(model.get("doc_json") || "{}");
  const save = (d) => { model.set("doc_json", JSON.stringify(d)); model.save_changes(); };
  const point = (ev) => { const r = svg.getBoundingClientRect(); return [ev.clientX - r.left, ev.clientY - r.top]; };

  function geometry(d) {
    const auto = model.get("auto_positions") || {}, ports = model.get("ports") || {};
    const boxes = {};
    for (const n of d.nodes || []) {
      const p = n.position || { x: (auto[n.id] || [0, 0])[0], y: (auto[n.id] || [0, 0])[1] };
      const pt = ports[n.type] || { inputs: [], outputs: [] };
      const rows = Math.max(pt.inputs.length, pt.outputs.length, 1);
      boxes[n.id] = { x: p.x + 20, y: p.y + 20, h: HEAD + rows * ROW + 6, node: n, ports: pt };
    }
    return boxes;
  }
  const portXY = (b, side, i) => [side === "in" ? b.x : b.x + W, b.y + HEAD + i * ROW + ROW / 2];

  function draw() {
    const d = doc(), boxes = geometry(d);
    const problems = {}, states = model.get("states") || {};
    for (const p of model.get("problems") || []) if (p.node) (problems[p.node] = problems[p.node] || []).push(p.message);
    banner.textContent = model.get("error") || "";
    svg.replaceChildren();
    let maxY = 0;
    for (const b of Object.values(boxes)) maxY = Math.max(maxY, b.y + b.h);
    svg.setAttribute("height", Math.max(model.get("height") || 360, maxY + 20));
    for (const e of d.edges || []) {
      const [sn, sp] = e.from.split("."), [tn, tp] = e.to.split(".");
      const a = boxes[sn], b = boxes[tn];
      if (!a || !b) continue;
      const i = a.ports.outputs.findIndex((p) => p[0] === sp), j = b.ports.inputs.findIndex((p) => p[0] === tp);
      const [x1, y1] = portXY(a, "out", Math.max(i, 0)), [x2, y2] = portXY(b, "in", Math.max(j, 0));
      const mx = (x1 + x2) / 2, type = i >= 0 ? a.ports.outputs[i][1] : "Any";
      const path = el("path", { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, fill: "none",
        stroke: COLORS[type] || "#777", "stroke-width": 2.5, class: "hs-edge", "data-edge": `${e.from}->${e.to}` }, svg);
      el("title", {}, path).textContent = `${e.from} → ${e.to} (double-click to remove)`;
      path.style.cursor = "pointer";
      path.addEventListener("dblclick", () => {
        const nd = doc();
        nd.edges = (nd.edges || []).filter((x) => !(x.from === e.from && x.to === e.to));
        save(nd);
      });
    }
    for (const [id, b] of Object.entries(boxes)) {
      const g = el("g", { class: "hs-node", "data-node": id }, svg);
      const st = states[id], errs = problems[id];
      el("rect", { x: b.x, y: b.y, width: W, height: b.h, rx: 8, fill: "#fff",
        stroke: errs ? "#e53935" : "#90a4ae", "stroke-width": errs ? 2 : 1.5 }, g);
      if (errs) el("title", {}, g).textContent = errs.join("\n");
      const head = el("text", { x: b.x + 10, y: b.y + 16, "font-weight": "bold" }, g);
      head.textContent = id;
      head.style.cursor = "move";
      el("text", { x: b.x + 10, y: b.y + 31, fill: "#607d8b" }, g).textContent = b.node.title || b.node.type;
      if (st) {
        el("rect", { x: b.x + W - 62, y: b.y + 5, width: 56, height: 15, rx: 7, fill: STATUS[st] || "#777" }, g);
        el("text", { x: b.x + W - 34, y: b.y + 16, fill: "#fff", "text-anchor": "middle", "font-size": 10 }, g).textContent = st;
      }
      b.ports.inputs.forEach(([name, type], i) => {
        const [x, y] = portXY(b, "in", i);
        el("circle", { cx: x, cy: y, r: 5, fill: COLORS[type] || "#777", class: "hs-in", "data-port": `${id}.${name}` }, g);
        el("text", { x: x + 9, y: y + 4, "font-size": 11 }, g).textContent = name;
      });
      b.ports.outputs.forEach(([name, type], i) => {
        const [x, y] = portXY(b, "out", i);
        const c = el("circle", { cx: x, cy: y, r: 5, fill: COLORS[type] || "#777", class: "hs-out", "data-port": `${id}.${name}` }, g);
        c.style.cursor = "crosshair";
        el("text", { x: x - 9, y: y + 4, "font-size": 11, "text-anchor": "end" }, g).textContent = name;
        c.addEventListener("pointerdown", (ev) => {
          ev.stopPropagation();
          drag = { kind: "wire", from: `${id}.${name}`, line: el("line", { x1: x, y1: y, x2: x, y2: y, stroke: "#555", "stroke-dasharray": 4, "pointer-events": "none" }, svg) };
        });
      });
      g.addEventListener("pointerdown", (ev) => {
        if (drag) return;
        const [px, py] = point(ev);
        drag = { kind: "node", id, dx: px - b.x, dy: py - b.y, g, x0: b.x, y0: b.y };
      });
    }
  }

  svg.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const [px, py] = point(ev);
    if (drag.kind === "wire") { drag.line.setAttribute("x2", px); drag.line.setAttribute("y2", py); }
    else drag.g.setAttribute("transform", `translate(${px - drag.dx - drag.x0},${py - drag.dy - drag.y0})`);
  });
  svg.addEventListener("pointerup", (ev) => {
    if (!drag) return;
    const d = doc(), [px, py] = point(ev), cur = drag;
    drag = null;
    if (cur.kind === "wire") {
      const target = ev.target.classList && ev.target.classList.contains("hs-in") ? ev.target.getAttribute("data-port") : null;
      if (target) { d.edges = [...(d.edges || []), { from: cur.from, to: target }]; save(d); } else draw();
      return;
    }
    const n = (d.nodes || []).find((x) => x.id === cur.id);
    const x = Math.round(px - cur.dx - 20), y = Math.round(py - cur.dy - 20);
    if (n && (!n.position || n.position.x !== x || n.position.y !== y)) { n.position = { x, y }; save(d); } else draw();
  });

  for (const name of ["doc_json", "problems", "error", "states", "auto_positions", "ports", "height"]) model.on(`change:${name}`, draw);
  draw();
}

export default { render };
