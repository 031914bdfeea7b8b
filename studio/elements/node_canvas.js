// NiceGUI component: the studio's node canvas (vue-flow).
//
// Python owns the pipeline document. The canvas renders `nodes`/`edges`,
// lets vue-flow handle pan/zoom/drag/select, and sends intents back
// (connect, move, select, delete, duplicate, undo, redo, drop, play);
// Python decides and pushes the new props. Only node positions are applied
// locally first, so dragging stays smooth.
import { h, ref, computed, getCurrentInstance } from "vue";
import { VueFlow, Handle, Position, MiniMap, Controls, Background, useVueFlow } from "haysay-studio";
import { loadResource } from "../../static/utils/resources.js";

const STATUS_COLORS = {
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

const StageNode = {
  name: "HaysayStageNode",
  props: ["id", "data", "selected", "state", "errors", "colors"],
  emits: ["play"],
  setup(props, { emit }) {
    return () => {
      const st = props.state || {};
      const errs = props.errors || [];
      const color = (t) => (props.colors && props.colors[t]) || "#9e9e9e";
      const playable = st.status === "done" || st.status === "cached";
      const badge = st.status
        ? h("span", { class: "hs-badge hs-badge-" + st.status, style: { background: STATUS_COLORS[st.status] || "#777" } }, st.status)
        : null;
      const children = [
        h("div", { class: "hs-head" }, [
          h("span", { class: "hs-title" }, props.data.title || props.id),
          badge,
        ]),
        h("div", { class: "hs-sub" }, [h("span", { class: "hs-id" }, props.id), " · ", props.data.node_type]),
      ];
      if (st.status === "running" || (st.progress > 0 && st.progress < 1)) {
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
      if (errs.length) children.push(h("div", { class: "hs-errors" }, errs.map((m) => h("div", { class: "hs-error" }, m))));
      if (st.status === "failed" && st.message) children.push(h("div", { class: "hs-errors" }, [h("div", { class: "hs-error" }, st.message)]));
      return h("div", {
        class: ["hs-node", "hs-cat-" + (props.data.category || "transform"), { "hs-selected": props.selected, "hs-invalid": errs.length > 0 },
                st.status ? "hs-state-" + st.status : ""],
        "data-node-id": props.id, "data-status": st.status || "",
      }, children);
    };
  },
};

export default {
  template: `
    <div class="hs-canvas" tabindex="0" @keydown="onKey" @dragover.prevent="onDragOver" @drop.prevent="onDrop">
      <VueFlow :id="flowId" :nodes="nodes" :edges="edges" :delete-key-code="null" :min-zoom="0.2" :max-zoom="2.5"
               :default-viewport="{ zoom: 0.9 }" :snap-to-grid="true" :snap-grid="[10, 10]"
               @connect="onConnect" @node-drag-stop="onDragStop" @node-click="onNodeClick" @pane-click="onPaneClick"
               @edge-click="onEdgeClick">
        <template #node-stage="p">
          <StageNode :id="p.id" :data="p.data" :selected="p.selected" :state="states[p.id]" :errors="errors[p.id]"
                     :colors="colors" @play="(e) => $emit('play', e)" />
        </template>
        <MiniMap pannable zoomable :node-color="minimapColor" />
        <Controls />
        <Background :gap="20" />
      </VueFlow>
    </div>`,
  components: { VueFlow, MiniMap, Controls, Background, StageNode },
  props: {
    nodes: { type: Array, default: () => [] },
    edges: { type: Array, default: () => [] },
    states: { type: Object, default: () => ({}) },
    errors: { type: Object, default: () => ({}) },
    colors: { type: Object, default: () => ({}) },
    resourcePath: String,
  },
  setup(props, { emit }) {
    const flowId = "haysay-flow-" + getCurrentInstance().uid;
    const flow = useVueFlow(flowId);
    const selectedEdge = ref(null);
    const minimapColor = (n) => {
      const st = props.states[n.id];
      return (st && STATUS_COLORS[st.status]) || "#90a4ae";
    };
    const onConnect = (c) => emit("connect", {
      source: c.source, source_port: c.sourceHandle, target: c.target, target_port: c.targetHandle,
    });
    const onDragStop = (e) => emit("move", {
      nodes: (e.nodes || [e.node]).map((n) => ({ id: n.id, x: Math.round(n.position.x), y: Math.round(n.position.y) })),
    });
    const onNodeClick = (e) => { selectedEdge.value = null; emit("select", { node: e.node.id }); };
    const onPaneClick = () => { selectedEdge.value = null; emit("select", { node: null }); };
    const onEdgeClick = (e) => { selectedEdge.value = e.edge.id; };
    const selection = () => ({
      nodes: flow.getSelectedNodes.value.map((n) => n.id),
      edges: flow.getSelectedEdges.value.map((e) => e.id).concat(selectedEdge.value ? [selectedEdge.value] : []),
    });
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
      }
    };
    const onDragOver = (e) => { e.dataTransfer.dropEffect = "copy"; };
    const onDrop = (e) => {
      const type = e.dataTransfer.getData("application/x-haysay-node");
      if (!type) return;
      const pos = flow.screenToFlowCoordinate({ x: e.clientX, y: e.clientY });
      emit("drop", { type, x: Math.round(pos.x), y: Math.round(pos.y) });
    };
    return { flowId, flow, minimapColor, onConnect, onDragStop, onNodeClick, onPaneClick, onEdgeClick, onKey, onDragOver, onDrop, selection };
  },
  mounted() {
    this.$nextTick().then(() => loadResource(window.path_prefix + `${this.resourcePath}/index.css`));
  },
  methods: {
    fit_view() {
      // new nodes are measured a frame or two after the props land; fitting earlier sees no bounds
      return new Promise((resolve) => setTimeout(() => resolve(this.flow.fitView({ padding: 0.2, duration: 200 })), 120));
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
