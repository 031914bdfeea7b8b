// anywidget front end of haysay's CanvasWidget: the studio's node canvas
// (NodeCanvas.js) in a notebook. One self-contained ES module: Vue, vue-flow
// and the stylesheets are bundled, nothing is fetched.
//
// Python owns the document (`doc_json`). Canvas intents (connect, move,
// delete, duplicate, undo, redo) become a new document that is set on the
// model and saved; Python validates it and either applies it or sends the
// old one back with `error` saying why. Any `change:*` re-renders. A play
// button press goes to Python as a message (CanvasWidget.on_play).
import { createApp, h, reactive } from "vue";
import flowCss from "@vue-flow/core/dist/style.css";
import themeCss from "@vue-flow/core/dist/theme-default.css";
import controlsCss from "@vue-flow/controls/dist/style.css";
import minimapCss from "@vue-flow/minimap/dist/style.css";
import studioCss from "../../pages/studio.css";
import NodeCanvas from "./NodeCanvas.js";
import { toFlow, connect, move, remove, duplicate } from "./pipelineDoc.js";

// The studio's PORT_COLORS (studio/elements/node_canvas.py): one colour per port type.
const PORT_COLORS = { Audio: "#43a047", Text: "#fb8c00", F0: "#1e88e5", Features: "#8e24aa", Any: "#757575" };
const CSS = [flowCss, themeCss, controlsCss, minimapCss, studioCss,
  ".hs-nb-error { color: #c62828; font: 12px sans-serif; min-height: 16px; }",
  ".hs-nb-host { border: 1px solid #ddd; border-radius: 6px; overflow: hidden; font-family: system-ui, sans-serif; }"].join("\n");
const UNDO_DEPTH = 100;

function byNode(problems) {
  // the same "field: message" lines the studio puts on a node card
  const out = {};
  for (const p of problems || []) {
    if (p.node) (out[p.node] = out[p.node] || []).push(`${p.field || p.port || ""}: ${p.message}`.replace(/^: /, ""));
  }
  return out;
}

function render({ model, el }) {
  const style = document.createElement("style");
  style.textContent = CSS;
  const banner = document.createElement("div");
  banner.className = "hs-nb-error";
  const host = document.createElement("div");
  host.className = "hs-nb-host";
  // keys typed on the canvas (Delete, Ctrl+Z, Ctrl+D) are the canvas's, not the notebook's cell shortcuts
  host.setAttribute("data-lm-suppress-shortcuts", "true");
  host.addEventListener("keydown", (e) => e.stopPropagation());
  el.replaceChildren(style, banner, host);

  const view = reactive({ nodes: [], edges: [], states: {}, errors: {}, colors: PORT_COLORS });
  const undo = [], redo = [];
  const doc = () => JSON.parse(model.get("doc_json") || "{}");
  const autoPositions = () => model.get("auto_positions") || {};

  function sync() {
    const flow = toFlow(doc(), model.get("specs") || {}, autoPositions(), PORT_COLORS);
    view.nodes = flow.nodes;
    view.edges = flow.edges;
    view.errors = byNode(model.get("problems"));
    view.states = model.get("states") || {};
    banner.textContent = model.get("error") || "";
    host.style.height = (model.get("height") || 360) + "px";
  }

  function send(json) {
    model.set("doc_json", json);
    model.save_changes();
  }
  const edit = (fn) => (args) => {
    const next = fn(doc(), args || {});
    if (!next) return;
    undo.push(model.get("doc_json"));
    undo.splice(0, undo.length - UNDO_DEPTH);
    redo.length = 0;
    send(JSON.stringify(next));
  };
  const step = (from, to) => () => {
    if (!from.length) return;
    to.push(model.get("doc_json"));
    send(from.pop());
  };

  let canvas = null;
  const app = createApp({
    render: () => h(NodeCanvas, {
      ref: (c) => { canvas = c; }, ...view,
      onConnect: edit(connect), onMove: edit(move), onDelete: edit(remove),
      onDuplicate: edit((d, a) => duplicate(d, a, autoPositions())),
      onUndo: step(undo, redo), onRedo: step(redo, undo),
      onPlay: (e) => model.send({ event: "play", node: e.node, port: e.port }),
    }),
  });
  sync();
  app.mount(host);
  // a notebook cell is small: fit the graph, but never blow two nodes up to fill it
  if (canvas) canvas.fit_view({ maxZoom: 1 });

  const names = ["doc_json", "specs", "auto_positions", "problems", "error", "states", "height"];
  for (const name of names) model.on(`change:${name}`, sync);
  return () => {
    for (const name of names) if (model.off) model.off(`change:${name}`, sync);
    app.unmount();
  };
}

export default { render };
