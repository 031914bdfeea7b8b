// anywidget front end of haysay's CanvasWidget: the studio's node canvas
// (NodeCanvas.js) in a notebook, with the studio's palette (NodePalette.js) on its left and the selected
// node's params under it. One self-contained ES module: Vue, vue-flow and the
// stylesheets are bundled, nothing is fetched.
//
// Python owns the document (`doc_json`) and sends it; this side never sends a
// document back. What the user does becomes operations (studio/notebook/
// operations.py: add, remove, connect, disconnect, set, move, duplicate, mode, group, ungroup,
// rename_group, via) sent
// as a message; Python applies them all or none, keeps undo/redo of canvas
// operations only, and sends the new document (or `error`, why it refused).
// A play button press is a message too (CanvasWidget.on_play).
import { createApp, h, reactive } from "vue";
import flowCss from "@vue-flow/core/dist/style.css";
import themeCss from "@vue-flow/core/dist/theme-default.css";
import controlsCss from "@vue-flow/controls/dist/style.css";
import minimapCss from "@vue-flow/minimap/dist/style.css";
import studioCss from "../../pages/studio.css";
import NodeCanvas from "./NodeCanvas.js";
import NodePalette from "./NodePalette.js";
import { toFlow } from "./pipelineDoc.js";
import { fields, paramInput } from "./paramInputs.js";

// The studio's PORT_COLORS (studio/elements/node_canvas.py): one colour per port type.
const PORT_COLORS = { Audio: "#43a047", Text: "#fb8c00", F0: "#1e88e5", Features: "#8e24aa", Any: "#757575" };
// Below this height the minimap would sit on the cards' last output ports: it is left out.
const MINIMAP_MIN_HEIGHT = 480;
const MODIFIERS = new Set(["Control", "Meta", "Shift", "Alt"]);
const CSS = [flowCss, themeCss, controlsCss, minimapCss, studioCss, `
.hs-nb-error { color: #c62828; font: 12px sans-serif; min-height: 16px; }
.hs-nb-row { display: flex; gap: 6px; font-family: system-ui, sans-serif; }
.hs-nb-host { flex: 1; border: 1px solid #ddd; border-radius: 6px; overflow: hidden; }
.hs-nb-host.hs-nb-small .vue-flow__minimap { display: none; }
.hs-nb-palette { width: 170px; border: 1px solid #ddd; border-radius: 6px; overflow-y: auto; padding: 4px; box-sizing: border-box; }
.hs-nb-params { font: 12px system-ui, sans-serif; padding: 4px 0; display: grid;
  grid-template-columns: max-content 220px 1fr; gap: 3px 8px; align-items: center; }
.hs-nb-params .hs-nb-head { grid-column: 1 / -1; font-weight: 600; }
.hs-nb-params .hs-nb-hint { color: #777; font-size: 11px; }
.hs-nb-params input[type=number], .hs-nb-params input[type=text], .hs-nb-params select { width: 210px; }
`].join("\n");

function byNode(problems) {
  // the same "field: message" lines the studio puts on a node card
  const out = {};
  for (const p of problems || []) {
    if (p.node) (out[p.node] = out[p.node] || []).push(`${p.field || p.port || ""}: ${p.message}`.replace(/^: /, ""));
  }
  return out;
}

const splitEdge = (id) => { const [from, to] = id.split("->"); return { from, to }; };
const nodeOf = (ref) => ref.split(".", 1)[0];

/** Operations for a canvas delete: the nodes, and the selected edges not already gone with them. */
export function deleteOps({ nodes = [], edges = [] }) {
  const gone = new Set(nodes);
  const ops = nodes.map((id) => ({ op: "remove", id }));
  for (const e of edges) {
    const { from, to } = splitEdge(e);
    if (from && to && !gone.has(nodeOf(from)) && !gone.has(nodeOf(to))) ops.push({ op: "disconnect", from, to });
  }
  return ops;
}

function paramsPanel(view, send) {
  const node = view.doc.nodes && view.doc.nodes.find((n) => n.id === view.selected);
  if (!node) return h("div", { class: "hs-nb-params hs-nb-none" }, [h("span", { class: "hs-nb-hint" }, "select a node to edit its params")]);
  const spec = view.specs[node.type];
  const rows = [h("div", { class: "hs-nb-head" }, `${node.id} · ${node.type}`)];
  for (const [name, prop] of fields(spec && spec.params)) {
    const set = node.params && Object.prototype.hasOwnProperty.call(node.params, name);
    const value = set ? node.params[name] : prop.default;
    const lo = prop.minimum ?? prop.exclusiveMinimum, hi = prop.maximum ?? prop.exclusiveMaximum;
    const range = lo !== undefined || hi !== undefined ? `${lo ?? ""}..${hi ?? ""}` : "";
    const hint = [range, prop.unit || "", prop.description || ""].filter(Boolean).join(" · ");
    const onEdit = (v) => {
      if (v === value || (typeof v === "number" && Number.isNaN(v))) return;  // not a change: nothing is written
      send([{ op: "set", id: node.id, params: { [name]: v } }]);
    };
    rows.push(h("label", { title: set ? "set" : "default" }, name + (set ? "" : " ·")),
              paramInput(name, prop, value, onEdit), h("span", { class: "hs-nb-hint" }, hint));
  }
  return h("div", { class: "hs-nb-params", "data-node": node.id }, rows);
}

function render({ model, el }) {
  const style = document.createElement("style");
  style.textContent = CSS;
  const banner = document.createElement("div");
  banner.className = "hs-nb-error";
  const row = document.createElement("div");
  row.className = "hs-nb-row";
  const side = document.createElement("div");
  side.className = "hs-nb-palette";
  const host = document.createElement("div");
  host.className = "hs-nb-host";
  row.append(side, host);
  const below = document.createElement("div");
  const root = document.createElement("div");
  root.className = "hs-nb-root";
  // keys typed here (Delete, Ctrl+Z, Ctrl+D, digits in a param box) are the widget's, not the notebook's shortcuts
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  // (a lone modifier still reaches the window: vue-flow tracks Ctrl/Shift there for multi-select)
  root.addEventListener("keydown", (e) => { if (!MODIFIERS.has(e.key)) e.stopPropagation(); });
  root.append(banner, row, below);
  el.replaceChildren(style, root);

  const view = reactive({ nodes: [], edges: [], states: {}, errors: {}, colors: PORT_COLORS,
                          doc: {}, specs: {}, palette: [], selected: null });
  const send = (ops) => { if (ops && ops.length) model.send({ event: "ops", ops }); };

  function sync() {
    const doc = JSON.parse(model.get("doc_json") || "{}");
    const specs = model.get("specs") || {};
    const flow = toFlow(doc, specs, model.get("auto_positions") || {}, PORT_COLORS);
    view.doc = doc;
    view.specs = specs;
    view.palette = model.get("palette") || [];
    view.nodes = flow.nodes;
    view.edges = flow.edges;
    view.errors = byNode(model.get("problems"));
    view.states = model.get("states") || {};
    if (view.selected && !(doc.nodes || []).some((n) => n.id === view.selected)) view.selected = null;
    banner.textContent = model.get("error") || "";
    const height = model.get("height") || 360;
    host.style.height = side.style.height = height + "px";
    host.classList.toggle("hs-nb-small", height < MINIMAP_MIN_HEIGHT);
  }

  let canvas = null;
  const add = (type, at) => send([{ op: "add", type, position: at || (canvas ? canvas.flow_center() : { x: 0, y: 0 }) }]);
  const app = createApp({
    render: () => h(NodeCanvas, {
      ref: (c) => { canvas = c; }, nodes: view.nodes, edges: view.edges, states: view.states, errors: view.errors,
      colors: view.colors, groups: view.doc.groups || [],
      onConnect: (c) => send([{ op: "connect", from: `${c.source}.${c.source_port}`, to: `${c.target}.${c.target_port}` }]),
      onMove: (m) => send((m.nodes || []).map((n) => ({ op: "move", id: n.id, position: { x: n.x, y: n.y } }))),
      onDelete: (sel) => send(deleteOps(sel)),
      onDuplicate: (sel) => send([{ op: "duplicate", ids: sel.nodes }]),
      onUndo: () => model.send({ event: "undo" }),
      onRedo: () => model.send({ event: "redo" }),
      onDrop: (d) => add(d.type, { x: d.x, y: d.y }),
      onSelect: (s) => { view.selected = s.node; },
      onParam: (p) => send([{ op: "set", id: p.node, params: { [p.field]: p.value } }]),
      onMode: (m) => send((m.nodes || []).map((id) => ({ op: "mode", id, mode: m.mode || "normal" }))),
      onGroup: (g) => send([g.op === "create" ? { op: "group", nodes: g.nodes }
        : g.op === "rename" ? { op: "rename_group", id: g.id, title: g.title } : { op: "ungroup", id: g.id }]),
      onVia: (v) => { const { from, to } = splitEdge(v.edge); send([{ op: "via", from, to, via: v.via }]); },
      onPlay: (e) => model.send({ event: "play", node: e.node, port: e.port }),
    }),
  });
  const sideApp = createApp({ render: () => h(NodePalette, { types: view.palette, onAdd: (e) => add(e.type) }) });
  const paramsApp = createApp({ render: () => paramsPanel(view, send) });
  sync();
  app.mount(host);
  sideApp.mount(side);
  paramsApp.mount(below);
  // a notebook cell is small: fit the graph, but never blow two nodes up to fill it
  const fit = () => { if (canvas) canvas.fit_view({ maxZoom: 1 }); };
  fit();

  const names = ["doc_json", "specs", "palette", "auto_positions", "problems", "error", "states", "height"];
  for (const name of names) model.on(`change:${name}`, sync);
  model.on("change:fit", fit);  // Python added nodes: bring them on screen
  return () => {
    for (const name of names) if (model.off) model.off(`change:${name}`, sync);
    if (model.off) model.off("change:fit", fit);
    app.unmount();
    sideApp.unmount();
    paramsApp.unmount();
  };
}

export default { render };
