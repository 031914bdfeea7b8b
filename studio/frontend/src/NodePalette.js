// The node palette, shared by the studio's editor and the notebook widget:
// every node type grouped by category, a search box, and items that add a
// node on click (an `add` {type} intent) or drag onto the canvas (the
// canvas's `drop` intent reads "application/x-haysay-node").
//
// `types` is [{type, title, category, description}] as the owner built it
// (studio/elements/node_palette.py `palette_entries`, for both owners).
// Filtering is local: it changes nothing the owner holds.
import { h, reactive } from "vue";

export const DRAG_MIME = "application/x-haysay-node";

/** The entries whose title, type or description hold every word of `query`, in their order. */
export function matching(types, query) {
  const words = (query || "").toLowerCase().split(/\s+/).filter(Boolean);
  return types.filter((t) => {
    const hay = `${t.title || ""} ${t.type} ${t.description || ""}`.toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}

export default {
  name: "HaysayNodePalette",
  props: { types: { type: Array, default: () => [] } },
  emits: ["add"],
  setup(props, { emit }) {
    const view = reactive({ query: "", closed: {} });
    return () => {
      const shown = matching(props.types, view.query);
      const groups = {};
      for (const t of shown) (groups[t.category] = groups[t.category] || []).push(t);
      const sections = Object.entries(groups).map(([category, types]) => {
        const closed = view.closed[category] && !view.query;
        return h("div", { class: "hs-palette-group", "data-category": category }, [
          h("button", {
            class: "hs-palette-cat", "aria-expanded": String(!closed),
            onClick: () => { view.closed[category] = !closed; },
          }, `${closed ? "▸" : "▾"} ${category}`),
          closed ? null : types.map((t) => h("div", {
            class: "hs-palette-item", draggable: "true", "data-node-type": t.type,
            title: [(t.description || "").split("\n")[0], "drag onto the canvas, or click to add"].filter(Boolean).join(" — "),
            onDragstart: (e) => { e.dataTransfer.setData(DRAG_MIME, t.type); e.dataTransfer.effectAllowed = "copy"; },
            onClick: () => emit("add", { type: t.type }),
          }, [h("div", { class: "hs-palette-title" }, t.title || t.type), h("div", { class: "hs-palette-type" }, t.type)])),
        ]);
      });
      return h("div", { class: "hs-palette" }, [
        h("input", {
          type: "search", placeholder: "search nodes…", value: view.query, "data-testid": "palette-search",
          "aria-label": "search nodes", onInput: (e) => { view.query = e.target.value; },
        }),
        sections.length ? sections : h("div", { class: "hs-palette-none" }, "no node type matches"),
      ]);
    };
  },
};
