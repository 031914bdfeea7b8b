// The node canvas (vue-flow), shared by the studio and the notebook widget.
//
// Whoever mounts it owns the pipeline document. The canvas renders
// `nodes`/`edges`, lets vue-flow handle pan/zoom/drag/select, and sends
// intents back (connect, move, select, delete, duplicate, undo, redo, drop,
// play, search, copy, paste, menu, param, mode); the owner decides and pushes new props. Only node
// positions (and which cards are collapsed, a view matter) are applied locally first.
//
// A node's `data` may carry `params` (the stored values), `schema` ({properties, defs}: the
// type's params JSON Schema) and `mode` ("bypass" | "mute"): the card then shows its first
// params as inputs (a valid edit is a `param` {node, field, value} intent) and its mode.
//
// Written as a render function, not a template: the notebook bundle ships
// Vue's runtime-only build, which cannot compile templates (and a runtime
// compiler would need `eval`, which some notebook front ends forbid).
import { h, ref, reactive, computed, getCurrentInstance } from "vue";
import { VueFlow, Handle, Position, useVueFlow, BaseEdge } from "@vue-flow/core";
import { MiniMap } from "@vue-flow/minimap";
import { Controls } from "@vue-flow/controls";
import { Background } from "@vue-flow/background";
import { fields, paramInput } from "./paramInputs.js";

// a card title is 13 px: fitting never zooms out past 11 px titles (a big graph is centred, and scrolls)
export const TITLE_PX = 13;
export const FIT_MIN_ZOOM = 11 / TITLE_PX;
// a card shows this many params; a longer form shows "more…", which opens the full one (select)
export const CARD_FIELDS = 5;

export const STATUS_COLORS = {
  queued: "#9e9e9e", running: "#1e88e5", cached: "#8e24aa", done: "#43a047", failed: "#e53935", skipped: "#bdbdbd",
};

function portRow(port, kind, color, extra) {
  const isIn = kind === "target";
  return h("div", { class: "hs-port hs-port-" + (isIn ? "in" : "out"), "data-port": port.name, "data-port-type": port.type }, [
    h(Handle, {
      id: port.name, type: kind, position: isIn ? Position.Left : Position.Right,
      class: "hs-handle", style: { background: color, borderColor: color },
      title: `${port.name}: ${port.type}${port.optional ? " (optional)" : ""}`,
    }),
    h("span", { class: "hs-port-name" }, port.name),
    h("span", { class: "hs-port-type", style: { color } }, port.type),
    extra || null,
  ]);
}

function cardParams(props, emit, problems) {
  const all = fields(props.data.schema);
  const stored = props.data.params || {};
  const shown = all.length > CARD_FIELDS + 1 ? all.slice(0, CARD_FIELDS) : all;
  const rows = shown.map(([name, prop]) => {
    const has = Object.prototype.hasOwnProperty.call(stored, name);
    const value = has ? stored[name] : prop.default;
    const onEdit = (v) => {
      delete problems[name];
      if (v !== value) emit("param", { node: props.id, field: name, value: v });
    };
    const onInvalid = (msg) => { problems[name] = msg; };
    return h("label", { class: ["hs-field-row", { "hs-field-bad": problems[name] }], title: prop.description || name }, [
      h("span", { class: "hs-field-name" }, (prop.title || name) + (prop.unit ? ` (${prop.unit})` : "")),
      paramInput(name, prop, value, onEdit, onInvalid),
    ]);
  });
  if (!rows.length) return null;
  const bad = Object.values(problems);
  if (bad.length) rows.push(h("div", { class: "hs-field-errors" }, bad.map((m) => h("div", { class: "hs-field-error" }, m))));
  if (shown.length < all.length) {
    rows.push(h("button", { class: "hs-more nodrag", "data-more": props.id,
                            onClick: (e) => { e.stopPropagation(); emit("more", { node: props.id }); } },
                `more… (${all.length} params)`));
  }
  return h("div", { class: "hs-params" }, rows);
}

const StageNode = {
  name: "HaysayStageNode",
  props: ["id", "data", "selected", "state", "errors", "colors", "collapsed"],
  emits: ["play", "param", "more", "collapse"],
  setup(props, { emit }) {
    const problems = reactive({});  // field -> why the text typed there was refused
    return () => {
      const st = props.state || {};
      const errs = props.errors || [];
      const mode = props.data.mode;
      const color = (t) => (props.colors && props.colors[t]) || "#9e9e9e";
      const playable = st.status === "done" || st.status === "cached";
      const badge = st.status
        ? h("span", { class: "hs-badge hs-badge-" + st.status, style: { background: STATUS_COLORS[st.status] || "#777" } }, st.status)
        : null;
      const children = [
        h("div", { class: "hs-head" }, [
          h("button", { class: "hs-collapse nodrag", "data-collapse": props.id, title: props.collapsed ? "expand" : "collapse",
                        onClick: (e) => { e.stopPropagation(); emit("collapse", props.id); } }, props.collapsed ? "▸" : "▾"),
          h("span", { class: "hs-title" }, props.data.title || props.id),
          mode ? h("span", { class: "hs-mode-tag" }, mode) : null,
          badge,
        ]),
      ];
      if (!props.collapsed) {
        children.push(h("div", { class: "hs-sub" }, [h("span", { class: "hs-id" }, props.id), " · ", props.data.node_type]));
      }
      if (!props.collapsed && (st.status === "running" || (st.progress > 0 && st.progress < 1))) {
        children.push(h("div", { class: "hs-progress" }, [
          h("div", { class: "hs-progress-bar", style: { width: Math.round((st.progress || 0) * 100) + "%" } }),
        ]));
      }
      const ports = [];
      for (const p of props.data.inputs || []) ports.push(portRow(p, "target", color(p.type)));
      for (const p of props.data.outputs || []) {
        const play = playable && p.type === "Audio"
          ? h("button", {
              class: "hs-play nodrag", title: `play ${props.id}.${p.name}`, "data-play": `${props.id}.${p.name}`,
              onClick: (e) => { e.stopPropagation(); emit("play", { node: props.id, port: p.name }); },
            }, "▶")
          : null;
        ports.push(portRow(p, "source", color(p.type), play));
      }
      children.push(h("div", { class: "hs-ports" }, ports));
      if (!props.collapsed) {
        children.push(cardParams(props, emit, problems));
        if (errs.length) children.push(h("div", { class: "hs-errors" }, errs.map((m) => h("div", { class: "hs-error" }, m))));
        if (st.status === "failed" && st.message) children.push(h("div", { class: "hs-errors" }, [h("div", { class: "hs-error" }, st.message)]));
      }
      return h("div", {
        class: ["hs-node", "hs-cat-" + (props.data.category || "transform"), { "hs-selected": props.selected, "hs-invalid": errs.length > 0,
                "hs-collapsed": props.collapsed }, st.status ? "hs-state-" + st.status : "", mode ? "hs-mode-" + mode : ""],
        "data-node-id": props.id, "data-status": st.status || "", "data-mode": mode || "",
      }, children);
    };
  },
};

// Groups (`groups` prop, the pipeline's [{id, title, nodes, color}]) are drawn as a titled,
// coloured frame around their nodes: a vue-flow node of its own ("group:" + id) behind the cards.
// Dragging the frame drags its members; the frame's buttons rename or ungroup (a `group` intent).
export const GROUP_PREFIX = "group:";
const GROUP_PAD = 24, GROUP_HEAD = 26;

const GroupFrame = {
  name: "HaysayGroupFrame",
  props: ["id", "data"],
  emits: ["group"],
  setup(props, { emit }) {
    return () => {
      const g = props.data.group;
      return h("div", { class: "hs-group", "data-group-id": g.id,
                        style: { width: props.data.width + "px", height: props.data.height + "px",
                                 borderColor: g.color || "#90a4ae", background: (g.color || "#90a4ae") + "1f" } }, [
        h("div", { class: "hs-group-head", style: { background: (g.color || "#90a4ae") + "55" } }, [
          h("span", { class: "hs-group-title" }, g.title || g.id),
          h("button", { class: "hs-group-btn nodrag", "data-group-rename": g.id, title: "rename",
                        onClick: (e) => {
                          e.stopPropagation();
                          const title = window.prompt("Group title", g.title || "");
                          if (title !== null && title !== g.title) emit("group", { op: "rename", id: g.id, title });
                        } }, "✎"),
          h("button", { class: "hs-group-btn nodrag", "data-group-ungroup": g.id, title: "ungroup",
                        onClick: (e) => { e.stopPropagation(); emit("group", { op: "ungroup", id: g.id }); } }, "✕"),
        ]),
      ]);
    };
  },
};

// A wire with reroute points (`data.via`, the edge's [{x, y}]) is drawn through them. A point is dragged
// to move it and right-clicked to remove it; either is a `via` {edge, via} intent (the whole new list).
const ViaEdge = {
  name: "HaysayViaEdge",
  props: ["id", "sourceX", "sourceY", "targetX", "targetY", "data", "style", "markerEnd"],
  emits: ["via"],
  setup(props, { emit }) {
    const drag = ref(null);  // {index, x, y} while a point is dragged
    return () => {
      const via = (props.data && props.data.via) || [];
      const pts = via.map((p, i) => (drag.value && drag.value.index === i ? drag.value : p));
      const all = [{ x: props.sourceX, y: props.sourceY }, ...pts, { x: props.targetX, y: props.targetY }];
      const path = all.map((p, i) => `${i ? "L" : "M"} ${p.x} ${p.y}`).join(" ");
      const dots = pts.map((p, i) => h("circle", {
        class: "hs-via nodrag nopan", cx: p.x, cy: p.y, r: 6, "data-via": `${props.id}#${i}`,
        // the edge layer takes pointer events on strokes only: a point takes them on its whole disc
        style: { fill: (props.style && props.style.stroke) || "#757575", pointerEvents: "all", cursor: "move" },
        onPointerdown: (e) => {
          if (e.button !== 0) return;
          e.stopPropagation();
          const svg = e.target.ownerSVGElement;
          const toFlow = (ev) => {
            const m = e.target.getScreenCTM().inverse();
            const pt = svg.createSVGPoint(); pt.x = ev.clientX; pt.y = ev.clientY;
            const q = pt.matrixTransform(m);
            return { x: Math.round(q.x), y: Math.round(q.y) };
          };
          const move = (ev) => { drag.value = { index: i, ...toFlow(ev) }; };
          const up = (ev) => {
            window.removeEventListener("pointermove", move);
            window.removeEventListener("pointerup", up);
            const at = toFlow(ev);
            drag.value = null;
            emit("via", { edge: props.id, via: via.map((q, j) => (j === i ? at : q)) });
          };
          window.addEventListener("pointermove", move);
          window.addEventListener("pointerup", up);
        },
        onContextmenu: (e) => { e.preventDefault(); e.stopPropagation(); emit("via", { edge: props.id, via: via.filter((_, j) => j !== i) }); },
      }));
      return [h(BaseEdge, { id: props.id, path, style: props.style, markerEnd: props.markerEnd }), ...dots];
    };
  },
};

/** `via` with a point at `at` put into the segment of the wire it is nearest to. */
export function insertVia(via, source, target, at) {
  const all = [source, ...via, target];
  let best = 0, bestD = Infinity;
  for (let i = 0; i < all.length - 1; i++) {
    const a = all[i], b = all[i + 1];
    const dx = b.x - a.x, dy = b.y - a.y, len = dx * dx + dy * dy || 1;
    const t = Math.max(0, Math.min(1, ((at.x - a.x) * dx + (at.y - a.y) * dy) / len));
    const d = (a.x + t * dx - at.x) ** 2 + (a.y + t * dy - at.y) ** 2;
    if (d < bestD) { bestD = d; best = i; }
  }
  return [...via.slice(0, best), at, ...via.slice(best)];
}

export default {
  name: "HaysayNodeCanvas",
  props: {
    nodes: { type: Array, default: () => [] },
    edges: { type: Array, default: () => [] },
    states: { type: Object, default: () => ({}) },
    errors: { type: Object, default: () => ({}) },
    colors: { type: Object, default: () => ({}) },
    groups: { type: Array, default: () => [] },
  },
  setup(props, { emit }) {
    const instance = getCurrentInstance();
    const flowId = "haysay-flow-" + instance.uid;
    const flow = useVueFlow(flowId);
    const selectedEdge = ref(null);
    const minimapColor = (n) => {
      const st = props.states[n.id];
      return (st && STATUS_COLORS[st.status]) || "#90a4ae";
    };
    const onConnect = (c) => emit("connect", {
      source: c.source, source_port: c.sourceHandle, target: c.target, target_port: c.targetHandle,
    });
    // a frame is the box around its members where the owner has them, with their measured sizes (a card not
    // measured yet counts 200 x 120); it reads no live drag position: a re-render mid-drag would reset the cards
    const sizes = new Map();
    const measured = ref(0);
    const onNodesChange = (changes) => {
      let grew = false;
      for (const c of changes) {
        if (c.type === "dimensions" && c.dimensions && !String(c.id).startsWith(GROUP_PREFIX)) {
          const old = sizes.get(c.id);
          if (!old || old.width !== c.dimensions.width || old.height !== c.dimensions.height) {
            sizes.set(c.id, { width: c.dimensions.width, height: c.dimensions.height });
            grew = true;
          }
        }
      }
      if (grew && (props.groups || []).length) measured.value += 1;
    };
    const frames = computed(() => { measured.value; return (props.groups || []).map((g) => {
      const members = props.nodes.filter((n) => (g.nodes || []).includes(n.id));
      if (!members.length) return null;
      let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (const n of members) {
        const dim = sizes.get(n.id) || { width: 200, height: 120 };
        x0 = Math.min(x0, n.position.x); y0 = Math.min(y0, n.position.y);
        x1 = Math.max(x1, n.position.x + dim.width); y1 = Math.max(y1, n.position.y + dim.height);
      }
      return { id: GROUP_PREFIX + g.id, type: "group-frame", position: { x: x0 - GROUP_PAD, y: y0 - GROUP_PAD - GROUP_HEAD },
               zIndex: -1, connectable: false, selectable: false,
               data: { group: g, width: x1 - x0 + 2 * GROUP_PAD, height: y1 - y0 + 2 * GROUP_PAD + GROUP_HEAD } };
    }).filter(Boolean); });
    const allNodes = computed(() => [...frames.value, ...props.nodes]);
    let frameDrag = null;  // {start: frame position, members: {id: position at start}}
    const onDragStart = (e) => {
      const n = e.node;
      if (!n || !n.id.startsWith(GROUP_PREFIX)) return;
      const g = n.data.group;
      frameDrag = { start: { ...n.position }, members: {} };
      for (const id of g.nodes || []) { const m = flow.findNode(id); if (m) frameDrag.members[id] = { ...m.position }; }
    };
    const onDrag = (e) => {
      if (!frameDrag || !e.node || !e.node.id.startsWith(GROUP_PREFIX)) return;
      const dx = e.node.position.x - frameDrag.start.x, dy = e.node.position.y - frameDrag.start.y;
      for (const [id, p] of Object.entries(frameDrag.members)) flow.updateNode(id, { position: { x: p.x + dx, y: p.y + dy } });
    };
    const onDragStop = (e) => {
      let moved = (e.nodes || [e.node]).filter((n) => !n.id.startsWith(GROUP_PREFIX));
      if (frameDrag && e.node && e.node.id.startsWith(GROUP_PREFIX)) {
        moved = Object.keys(frameDrag.members).map((id) => flow.findNode(id)).filter(Boolean);
      }
      frameDrag = null;
      if (moved.length) emit("move", { nodes: moved.map((n) => ({ id: n.id, x: Math.round(n.position.x), y: Math.round(n.position.y) })) });
    };
    const onNodeClick = (e) => {
      selectedEdge.value = null;
      if (!e.node.id.startsWith(GROUP_PREFIX)) emit("select", { node: e.node.id });
    };
    const onNodeContextMenu = (e) => {
      const ev = e.event;
      if (ev && ev.preventDefault) ev.preventDefault();
      if (e.node.id.startsWith(GROUP_PREFIX)) return;
      const sel = flow.getSelectedNodes.value.map((n) => n.id);
      emit("menu", { node: e.node.id, nodes: sel.includes(e.node.id) ? sel : [e.node.id],
                     screen_x: Math.round(ev ? ev.clientX : 0), screen_y: Math.round(ev ? ev.clientY : 0) });
    };
    const onPaneClick = () => { selectedEdge.value = null; emit("select", { node: null }); };
    const onEdgeClick = (e) => { selectedEdge.value = e.edge.id; };
    // a double click on a wire puts a reroute point there
    const onEdgeDoubleClick = (e) => {
      const ev = e.event, edge = e.edge;
      if (!ev || !edge) return;
      const p = flow.screenToFlowCoordinate({ x: ev.clientX, y: ev.clientY });
      const at = { x: Math.round(p.x), y: Math.round(p.y) };
      const via = (edge.data && edge.data.via) || [];
      const src = { x: edge.sourceX, y: edge.sourceY }, dst = { x: edge.targetX, y: edge.targetY };
      emit("via", { edge: edge.id, via: insertVia(via, src, dst, at) });
    };
    const allEdges = computed(() => props.edges.map((e) => (e.data && e.data.via && e.data.via.length ? { ...e, type: "via" } : e)));
    const flowCenter = () => {
      const r = instance.proxy.$el.getBoundingClientRect();
      const p = flow.screenToFlowCoordinate({ x: r.left + r.width / 2, y: r.top + r.height / 2 });
      return { x: Math.round(p.x), y: Math.round(p.y) };
    };
    const selection = () => ({
      nodes: flow.getSelectedNodes.value.map((n) => n.id).filter((id) => !id.startsWith(GROUP_PREFIX)),
      edges: flow.getSelectedEdges.value.map((e) => e.id).concat(selectedEdge.value ? [selectedEdge.value] : []),
    });
    // Ctrl+B on cards all bypassed already turns bypass off; otherwise it sets it on every one
    const toggledMode = (ids, mode) => {
      const byId = Object.fromEntries(props.nodes.map((n) => [n.id, n]));
      const all = ids.every((id) => byId[id] && byId[id].data && byId[id].data.mode === mode);
      return { nodes: ids, mode: all ? null : mode };
    };
    const collapsed = reactive({});
    const toggleCollapse = (id) => { collapsed[id] = !collapsed[id]; };
    const onKey = (e) => {
      if (e.target.closest("input, textarea, [contenteditable]")) return;
      const mod = e.ctrlKey || e.metaKey;
      if (e.key === "Delete" || e.key === "Backspace") {
        const sel = selection();
        if (sel.nodes.length || sel.edges.length) { e.preventDefault(); emit("delete", sel); }
      } else if (mod && e.key.toLowerCase() === "z") {
        e.preventDefault(); emit(e.shiftKey ? "redo" : "undo", {});
      } else if (mod && e.key.toLowerCase() === "y") {
        e.preventDefault(); emit("redo", {});
      } else if (mod && e.key.toLowerCase() === "d") {
        const sel = selection();
        if (sel.nodes.length) { e.preventDefault(); emit("duplicate", { nodes: sel.nodes }); }
      } else if (mod && e.key.toLowerCase() === "c") {
        const sel = selection();
        if (sel.nodes.length) { e.preventDefault(); emit("copy", { nodes: sel.nodes }); }
      } else if (mod && e.key.toLowerCase() === "v") {
        e.preventDefault(); emit("paste", flowCenter());
      } else if (mod && e.key.toLowerCase() === "g") {
        const sel = selection();
        if (sel.nodes.length) { e.preventDefault(); emit("group", { op: "create", nodes: sel.nodes }); }
      } else if (mod && (e.key.toLowerCase() === "b" || e.key.toLowerCase() === "m")) {
        const sel = selection();
        if (sel.nodes.length) { e.preventDefault(); emit("mode", toggledMode(sel.nodes, e.key.toLowerCase() === "b" ? "bypass" : "mute")); }
      }
    };
    // a double click on the empty canvas, or a wire let go there, asks for a node to add at that spot
    // (with the wire's end, so the owner can offer only nodes that take it and connect it)
    let pendingWire = null;
    const flowPoint = (e) => {
      const pos = flow.screenToFlowCoordinate({ x: e.clientX, y: e.clientY });
      return { x: Math.round(pos.x), y: Math.round(pos.y), screen_x: Math.round(e.clientX), screen_y: Math.round(e.clientY) };
    };
    const onDblClick = (e) => {
      if (!e.target.closest(".vue-flow__pane") || e.target.closest(".vue-flow__node, .vue-flow__edge")) return;
      emit("search", flowPoint(e));
    };
    const onConnectStart = (p) => {
      pendingWire = p && p.nodeId ? { node: p.nodeId, port: p.handleId, kind: p.handleType } : null;
    };
    const onConnectEnd = (e) => {
      const wire = pendingWire;
      pendingWire = null;
      const ev = e && e.clientX === undefined && e.event ? e.event : e;
      if (!wire || !ev || ev.clientX === undefined) return;
      const el = document.elementFromPoint(ev.clientX, ev.clientY);
      if (!el || !el.closest(".hs-canvas") || el.closest(".vue-flow__node, .vue-flow__handle, .vue-flow__minimap, .vue-flow__controls")) return;
      emit("search", { ...flowPoint(ev), wire });
    };
    const onDragOver = (e) => { e.preventDefault(); e.dataTransfer.dropEffect = "copy"; };
    const onDrop = (e) => {
      e.preventDefault();
      const type = e.dataTransfer.getData("application/x-haysay-node");
      if (!type) return;
      const pos = flow.screenToFlowCoordinate({ x: e.clientX, y: e.clientY });
      emit("drop", { type, x: Math.round(pos.x), y: Math.round(pos.y) });
    };
    return { flowId, flow, minimapColor, onConnect, onDragStop, onNodeClick, onPaneClick, onEdgeClick, onKey, onDragOver, onDrop, selection,
             onDblClick, onConnectStart, onConnectEnd, onNodeContextMenu, collapsed, toggleCollapse, allNodes, onDragStart, onDrag, onNodesChange, onEdgeDoubleClick, allEdges };
  },
  render() {
    const stage = (p) => h(StageNode, {
      id: p.id, data: p.data, selected: p.selected, state: this.states[p.id], errors: this.errors[p.id],
      colors: this.colors, collapsed: !!this.collapsed[p.id], onPlay: (e) => this.$emit("play", e),
      onParam: (e) => this.$emit("param", e), onMore: (e) => this.$emit("select", { node: e.node, more: true }),
      onCollapse: this.toggleCollapse,
    });
    return h("div", {
      class: "hs-canvas", tabindex: "0", onKeydown: this.onKey, onDragover: this.onDragOver, onDrop: this.onDrop,
      onDblclick: this.onDblClick,
    }, [
      h(VueFlow, {
        id: this.flowId, nodes: this.allNodes, edges: this.allEdges, deleteKeyCode: null, minZoom: 0.2, maxZoom: 2.5,
        defaultViewport: { zoom: 0.9 }, snapToGrid: true, snapGrid: [10, 10], zoomOnDoubleClick: false,
        onConnect: this.onConnect, onConnectStart: this.onConnectStart, onConnectEnd: this.onConnectEnd, onNodesChange: this.onNodesChange, onNodeDragStart: this.onDragStart, onNodeDrag: this.onDrag, onNodeDragStop: this.onDragStop, onNodeClick: this.onNodeClick,
        onPaneClick: this.onPaneClick, onEdgeClick: this.onEdgeClick, onEdgeDoubleClick: this.onEdgeDoubleClick, onNodeContextMenu: this.onNodeContextMenu,
      }, {
        "node-stage": stage,
        "edge-via": (p) => h(ViaEdge, { id: p.id, sourceX: p.sourceX, sourceY: p.sourceY, targetX: p.targetX, targetY: p.targetY,
                                        data: p.data, style: p.style, markerEnd: p.markerEnd, onVia: (e) => this.$emit("via", e) }),
        "node-group-frame": (p) => h(GroupFrame, { id: p.id, data: p.data, onGroup: (e) => this.$emit("group", e) }),
        default: () => [
          h(MiniMap, { pannable: true, zoomable: true, nodeColor: this.minimapColor }),
          h(Controls),
          h(Background, { gap: 20 }),
        ],
      }),
    ]);
  },
  methods: {
    fit_view(options = {}) {
      // new nodes are measured a frame or two after the props land; fitting earlier sees no bounds
      // never below FIT_MIN_ZOOM: a big graph is then centred, not shrunk to unreadable cards; never above 1:
      // one or two cards are not blown up to fill the canvas
      return new Promise((resolve) => setTimeout(() => resolve(this.flow.fitView({ padding: 0.2, duration: 200, minZoom: FIT_MIN_ZOOM, maxZoom: 1, ...options })), 120));
    },
    flow_center() {
      // where a node added by clicking the palette should go: the middle of what is on screen
      const el = this.$el.getBoundingClientRect();
      const p = this.flow.screenToFlowCoordinate({ x: el.left + el.width / 2, y: el.top + el.height / 2 });
      return { x: Math.round(p.x), y: Math.round(p.y) };
    },
    get_selection() {
      return this.selection();
    },
  },
};
