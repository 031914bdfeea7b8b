// The notebook canvas's edits on the pipeline document (the engine's JSON
// format), mirroring studio/graph_model.py. These only shape the document;
// the Python widget validates it and refuses what the engine would refuse
// (type mismatch, cycle, an input fed twice), sending the old one back.

export const edgeId = (from, to) => `${from}->${to}`;
const nodeOf = (ref) => ref.split(".", 1)[0];
const clone = (x) => JSON.parse(JSON.stringify(x));

/** vue-flow nodes and edges, shaped like GraphModel.canvas_nodes() / canvas_edges(). */
export function toFlow(doc, specs, autoPositions, colors) {
  const nodes = (doc.nodes || []).map((n) => {
    const spec = specs[n.type];
    const auto = autoPositions[n.id] || [0, 0];
    return {
      id: n.id, type: "stage", position: n.position ? { x: n.position.x, y: n.position.y } : { x: auto[0], y: auto[1] },
      data: {
        title: n.title || (spec ? spec.title : n.type), node_type: n.type,
        category: spec ? spec.category : "transform",
        inputs: spec ? spec.inputs : [], outputs: spec ? spec.outputs : [],
        params: n.params || {}, schema: spec ? spec.params : null, mode: n.mode || null,
      },
    };
  });
  const types = Object.fromEntries((doc.nodes || []).map((n) => [n.id, n.type]));
  const edges = (doc.edges || []).map((e) => {
    const [s, sp] = splitRef(e.from), [t, tp] = splitRef(e.to);
    const spec = specs[types[s]];
    const port = spec && spec.outputs.find((p) => p.name === sp);
    const ptype = port ? port.type : "Any";
    return { id: edgeId(e.from, e.to), source: s, sourceHandle: sp, target: t, targetHandle: tp,
             style: { stroke: colors[ptype] || "#757575", strokeWidth: 2 },
             data: e.via && e.via.length ? { type: ptype, via: e.via } : { type: ptype } };
  });
  return { nodes, edges };
}

function splitRef(ref) {
  const i = ref.indexOf(".");
  return i < 0 ? [ref, ""] : [ref.slice(0, i), ref.slice(i + 1)];
}

export function connect(doc, { source, source_port, target, target_port }) {
  const d = clone(doc);
  d.edges = [...(d.edges || []), { from: `${source}.${source_port}`, to: `${target}.${target_port}` }];
  return d;
}

/** Changed positions only; null when nothing moved (no edit to send). */
export function move(doc, { nodes }) {
  const d = clone(doc);
  let moved = false;
  for (const { id, x, y } of nodes || []) {
    const n = (d.nodes || []).find((m) => m.id === id);
    if (n && (!n.position || n.position.x !== x || n.position.y !== y)) { n.position = { x, y }; moved = true; }
  }
  return moved ? d : null;
}

/** Nodes (with their edges, input bindings and named outputs) and edges by canvas edge id. */
export function remove(doc, { nodes = [], edges = [] }) {
  const gone = new Set(nodes), cut = new Set(edges);
  const d = clone(doc);
  const before = JSON.stringify(d);
  d.nodes = (d.nodes || []).filter((n) => !gone.has(n.id));
  d.edges = (d.edges || []).filter((e) => !gone.has(nodeOf(e.from)) && !gone.has(nodeOf(e.to)) && !cut.has(edgeId(e.from, e.to)));
  if (d.inputs) d.inputs = Object.fromEntries(Object.entries(d.inputs).filter(([, v]) => !gone.has(nodeOf(v.bind))));
  if (d.outputs) d.outputs = Object.fromEntries(Object.entries(d.outputs).filter(([, v]) => !gone.has(nodeOf(v))));
  return JSON.stringify(d) === before ? null : d;
}

/** Copies with fresh ids, shifted by `offset` from where they are drawn, with the edges among them. */
export function duplicate(doc, { nodes }, autoPositions = {}, offset = 40) {
  const d = clone(doc);
  const taken = new Set((d.nodes || []).map((n) => n.id));
  const mapping = {};
  for (const id of nodes || []) {
    const n = (d.nodes || []).find((m) => m.id === id);
    if (!n || mapping[id]) continue;
    const copy = clone(n);
    copy.id = freshId(id.replace(/[0-9]+$/, "").replace(/_+$/, "") || id, taken);
    taken.add(copy.id);
    const auto = autoPositions[id] || [0, 0];
    const pos = n.position || { x: auto[0], y: auto[1] };
    copy.position = { x: pos.x + offset, y: pos.y + offset };
    mapping[id] = copy.id;
    d.nodes.push(copy);
  }
  if (!Object.keys(mapping).length) return null;
  for (const e of doc.edges || []) {
    const [s, sp] = splitRef(e.from), [t, tp] = splitRef(e.to);
    if (mapping[s] && mapping[t]) d.edges.push({ from: `${mapping[s]}.${sp}`, to: `${mapping[t]}.${tp}` });
  }
  return d;
}

function freshId(base, taken) {
  if (!taken.has(base)) return base;
  let i = 2;
  while (taken.has(`${base}_${i}`)) i += 1;
  return `${base}_${i}`;
}
