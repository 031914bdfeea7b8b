"""The editor page: palette, node canvas, side panels, run button.

A page holds one `GraphModel` (the pipeline being edited). Canvas intents
edit the model; every edit re-renders the canvas and re-validates with the
engine, so field errors show as you type. Runs go through `runs.start_run`
and are polled from a UI timer; while one goes, the Run button cancels it.
Queue hands the pipeline to the studio's job runner instead (the Jobs tab).
Several workflows stay open as tabs above the canvas (workflow_tabs.py); `model` is the active one's.
"""
from __future__ import annotations

import json
from typing import Any

from nicegui import run as ng_run
from nicegui import ui

from haysay.graph_engine import InvalidPipeline, PipelineFormatError, parse_pipeline

from ..autosave import SESSION_KEY, TABS_KEY, Autosave, parse_saved, parse_tabs
from ..elements import PORT_COLORS, NodeCanvas, NodePalette
from ..graph_model import GraphModel
from ..runs import RunHandle, start_run
from . import nav
from .jobs import JobsPanel
from .panels import ComparePanel, HistoryPanel, InputsPanel, NodePanel
from .sweep import SweepDialog
from .workflow_tabs import WorkflowTabs

POLL_S = 0.3
# beforeunload asks first while an edit has not been confirmed saved by the server (set on every
# edit gesture, cleared by the autosave), so closing the tab or reloading mid-edit loses nothing
UNSAVED_JS = """<script>
window.haysayUnsaved = false;
// only gestures that always reach the server (which then confirms): typing in a form, dropping a
// node, releasing a node or a wire; a pan or a stray key changes nothing and would never be confirmed
const hsTouch = (e) => {
  const t = e.target.closest ? e.target : null;
  if (!t) return;
  if (e.type === 'pointerup' ? t.closest('.vue-flow__node, .vue-flow__handle') : t.closest('.hs-canvas, .q-drawer, .q-dialog'))
    window.haysayUnsaved = true;
};
for (const ev of ['pointerup', 'input', 'drop']) document.addEventListener(ev, hsTouch, true);
window.addEventListener('beforeunload', (e) => { if (window.haysayUnsaved) { e.preventDefault(); e.returnValue = ''; } });
</script>"""


class EditorPage:
    def __init__(self, studio, open_run: str | None = None):
        self.studio = studio
        self.model = GraphModel(studio.registry)
        self.selected: str | None = None
        self.keys: dict[str, str] = {}  # node -> cache key whose outputs are playable now
        self.states: dict[str, dict] = {}  # what the canvas badges show
        self.errors: list = []
        self.inputs: dict[str, Any] = {}  # values for the pipeline's named inputs
        self.handle: RunHandle | None = None
        self.seen_version = -1
        self.autosave = Autosave(studio.settings.home)
        self.run_keys: dict[str, str] = {}  # uncacheable stage -> its key in the last run
        self.run_revision = -1
        self.open_run = open_run
        self._touched = False  # a gesture was handled since the last autosave tick
        self._build()
        if open_run:
            self.history.open_run(open_run)
        self.refresh()

    async def restore(self) -> None:
        """Back to the graph this tab had (sessionStorage), else the workspace's last autosave."""
        if self.open_run:
            return
        saved = tabs = None
        try:
            await ui.context.client.connected(timeout=15)
            saved, tabs = await ui.run_javascript(
                f"[sessionStorage.getItem({json.dumps(SESSION_KEY)}), sessionStorage.getItem({json.dumps(TABS_KEY)})]",
                timeout=5)
            saved, tabs = parse_saved(saved), parse_tabs(tabs)
        except Exception:  # the browser went away or answered nothing: the server's copy then
            saved = tabs = None
        saved = saved or await ng_run.io_bound(self.autosave.load)
        tabs = tabs or await ng_run.io_bound(self.autosave.load_tabs)
        self.workflows.restore(tabs, saved)

    def run_state(self) -> dict[str, Any]:
        """The open tab's run: its input files, stage states, last run's keys and a run still going."""
        return {"states": self.states, "inputs": self.inputs, "run_keys": self.run_keys,
                "run_revision": self.run_revision, "handle": self.handle, "status": self.status.text}

    def activate(self, model: GraphModel, fresh: bool = True, run: dict[str, Any] | None = None) -> None:
        """Edit `model` (a tab's): the canvas, panels and name show it. `fresh` (another tab): no node
        selected, and the tab's own run state `run` (what `run_state()` gave when it was left; none for a new
        tab) comes back; else (the same work restored) a selected node stays selected."""
        self.model = model
        self.canvas.edit(model)  # the canvas's own edits (params, modes, groups, wires) go to the active tab
        if fresh or not (self.selected and model.has_node(self.selected)):
            self.selected = None
        if fresh:
            run = run or {}
            self.states, self.inputs = dict(run.get("states") or {}), dict(run.get("inputs") or {})
            self.run_keys, self.run_revision = dict(run.get("run_keys") or {}), run.get("run_revision", -1)
            self.handle, self.seen_version = run.get("handle"), -1  # a run still going is followed again
            self.status.text = run.get("status", "")
            self._run_button(running=self.handle is not None and not self.handle.finished)
            self.canvas.set_states(self.states)
        self.name_input.value = model.doc.get("name") or ""
        self.refresh()
        self.canvas.fit_view()

    def _autosave_tick(self) -> None:
        if self.workflows.unsaved():
            doc, tabs = self.model.doc, self.workflows.state()
            keep = (f"sessionStorage.setItem({json.dumps(SESSION_KEY)}, {json.dumps(json.dumps(doc))});"
                    f" sessionStorage.setItem({json.dumps(TABS_KEY)}, {json.dumps(json.dumps(tabs))});")
            try:
                self.autosave.save(doc)
                self.autosave.save_tabs(tabs)
            except OSError as exc:  # the browser copy still goes; the warning on leaving stays up
                ui.notify(f"Autosave failed: {exc}", type="warning")
                ui.run_javascript(keep)
                return
            self.workflows.mark_saved()
            ui.run_javascript(keep + " window.haysayUnsaved = false;")
        elif self._touched:
            ui.run_javascript("window.haysayUnsaved = false;")
        self._touched = False

    # -- layout ------------------------------------------------------------------------
    def _build(self) -> None:
        ui.query(".nicegui-content").classes("p-0 gap-0")
        ui.add_head_html(UNSAVED_JS)
        with ui.header().classes("items-center gap-3 py-1 bg-green-9"):
            ui.label("haysay studio").classes("text-lg font-bold")
            self.name_input = ui.input(value=self.model.doc["name"], on_change=self._rename) \
                .props("dense dark borderless input-class=text-white").classes("w-40").props('data-testid="pipeline-name"')
            for icon, tip, action, tid in (
                    ("file_open", "Import pipeline JSON", self._import_dialog, "import"),
                    ("file_download", "Export pipeline JSON", self._export_dialog, "export"),
                    ("undo", "Undo (Ctrl+Z)", self.undo, "undo"),
                    ("redo", "Redo (Ctrl+Shift+Z)", self.redo, "redo"),
                    ("account_tree", "Auto-layout", self._layout, "layout"),
                    ("fit_screen", "Fit view", lambda: self.canvas.fit_view(), "fit")):
                ui.button(icon=icon, on_click=action).props(f'flat dense round color=white data-testid="{tid}"').tooltip(tip)
            self.run_button = ui.button("Run", icon="play_arrow", on_click=self.run) \
                .props('color=white text-color=green-9 data-testid="run"')
            ui.button("Queue", icon="queue", on_click=self.queue) \
                .props('outline color=white data-testid="queue"').tooltip("Run as a background job (see Jobs)")
            ui.button("Sweep…", icon="tune", on_click=lambda: self.sweep.open()) \
                .props('outline color=white data-testid="sweep"').tooltip("Run over a grid of param values, ranked by a score")
            self.status = ui.label("").classes("text-sm").props('data-testid="run-status"')
            ui.space()
            self.problem_label = ui.label("").classes("text-sm text-red-2").props('data-testid="problems"')
            nav(self.studio, "/")
        with ui.left_drawer(value=True).props("width=240 bordered").classes("p-2 bg-grey-1"):
            self._palette()
        with ui.right_drawer(value=True).props("width=440 bordered").classes("p-0"):
            with ui.tabs().props("dense align=left").classes("w-full") as tabs:
                self.tab_node = ui.tab("Node").props('data-testid="tab-node"')
                self.tab_inputs = ui.tab("Inputs").props('data-testid="tab-inputs"')
                self.tab_compare = ui.tab("Compare").props('data-testid="tab-compare"')
                self.tab_history = ui.tab("History").props('data-testid="tab-history"')
                self.tab_jobs = ui.tab("Jobs").props('data-testid="tab-jobs"')
            self.tabs = tabs
            with ui.tab_panels(tabs, value=self.tab_node).classes("w-full"):
                with ui.tab_panel(self.tab_node):
                    self.node_panel = NodePanel(self)
                with ui.tab_panel(self.tab_inputs):
                    self.inputs_panel = InputsPanel(self)
                with ui.tab_panel(self.tab_compare):
                    self.compare = ComparePanel(self)
                with ui.tab_panel(self.tab_history):
                    self.history = HistoryPanel(self)
                with ui.tab_panel(self.tab_jobs):
                    self.jobs = JobsPanel(self)
        self.sweep = SweepDialog(self)
        self.workflows = WorkflowTabs(self)
        self.canvas = NodeCanvas().classes("w-full").style("height: calc(100vh - 86px)")
        for name, handler in (("connect", self._on_connect), ("move", self._on_move), ("select", self._on_select),
                              ("delete", self._on_delete), ("duplicate", self._on_duplicate), ("drop", self._on_drop),
                              ("undo", lambda _: self.undo()), ("redo", lambda _: self.redo()),
                              ("play", self._on_play), ("search", self._on_search), ("copy", self._on_copy),
                              ("paste", self._on_paste), ("menu", self._on_menu)):
            self.canvas.on_event(name, self._touching(handler))
        self.canvas.attach(self.model, self.set_param, self.refresh)
        ui.timer(POLL_S, self._poll)

    def _touching(self, handler):
        def handle(a):
            self._touched = True
            return handler(a)
        return handle

    def _palette(self) -> None:
        ui.label("Nodes").classes("text-subtitle2")
        NodePalette(self.studio.registry).on_add(lambda t: self.add_node(t) if self.studio.registry.get(t) else None) \
            .classes("w-full")

    # -- model -> view -----------------------------------------------------------------
    def refresh(self) -> None:
        """Re-render the canvas from the model and re-validate."""
        self.canvas.set_graph(self.model.canvas_nodes(), self.model.canvas_edges(PORT_COLORS))
        self.revalidate()
        self.node_panel.show(self.selected)
        self.inputs_panel.refresh_inputs()

    def revalidate(self) -> None:
        try:
            doc = self.model.to_doc()
        except PipelineFormatError as exc:
            self.errors = list(exc.errors)
            doc = None
        else:
            self.errors = self.studio.validate(doc, self.inputs or None)
        by_node: dict[str, list[str]] = {}
        for e in self.errors:
            if e.node:
                by_node.setdefault(e.node, []).append(f"{e.field or e.port or ''}: {e.message}".lstrip(": "))
        self.canvas.set_errors(by_node)
        loose = [str(e) for e in self.errors if not e.node or not self.model.has_node(e.node)]
        self.problem_label.text = (f"{len(self.errors)} problem{'s' * (len(self.errors) != 1)}"
                                   + (f": {loose[0]}" if loose else "")) if self.errors else ""
        self.keys = self.studio.cached_keys(doc, self.inputs or None) if doc is not None and not self.errors else {}
        if self.run_keys and self.run_revision == self.model.revision:
            # stages that always run (audio.save) get a fresh key per run: the last run's, while the graph is as it ran
            self.keys.update({nid: k for nid, k in self.run_keys.items() if self.model.has_node(nid)
                              and self.studio.engine.store.exists(k)})
        if self.handle is None or self.handle.finished:
            self._settle_states()
        self.node_panel.show_errors(self.errors)

    def _settle_states(self) -> None:
        """Outside a run, badges say which stages are in the store for the current params."""
        states = {}
        for nid in self.model.node_ids():
            old = self.states.get(nid, {})
            if nid in self.keys:
                keep = old.get("status") in ("done", "cached")
                spec = self.studio.registry.get(self.model.node(nid)["type"])
                # a stage that always runs (audio.save) is never "cached": it is done, its audio kept
                status = "cached" if spec is None or spec.cacheable else "done"
                states[nid] = old if keep else {"status": status, "progress": 1.0, "message": ""}
            elif old.get("status") in ("failed", "cancelled"):
                states[nid] = old
        self.states = states
        self.canvas.set_states(states)

    # -- edits -------------------------------------------------------------------------
    async def add_node(self, type_id: str) -> None:
        try:
            center = await self.canvas.center()
        except Exception:  # the canvas may not answer yet (page still loading)
            center = {"x": 0, "y": 0}
        x, y = self.model.free_spot(center["x"] - 100, center["y"] - 50)
        nid = self.model.add_node(type_id, x, y)
        self.selected = nid
        self.refresh()

    def _on_drop(self, a: dict) -> None:
        if a.get("type") in self.studio.registry:
            self.selected = self.model.add_node(a["type"], a.get("x", 0), a.get("y", 0))
            self.refresh()

    def _on_connect(self, a: dict) -> None:
        problem = self.model.connect(a.get("source", ""), a.get("source_port", ""), a.get("target", ""),
                                     a.get("target_port", ""))
        if problem:
            ui.notify(f"Connection refused: {problem}", type="warning", position="bottom")
        self.refresh()

    def _on_move(self, a: dict) -> None:
        self.model.move({n["id"]: (n["x"], n["y"]) for n in a.get("nodes", []) if "id" in n})

    def _on_select(self, a: dict) -> None:
        self.selected = a.get("node")
        self.node_panel.show(self.selected)
        if self.selected:
            self.tabs.set_value(self.tab_node)

    def _on_delete(self, a: dict) -> None:
        if self.model.remove(a.get("nodes", []), a.get("edges", [])):
            if self.selected and not self.model.has_node(self.selected):
                self.selected = None
            self.refresh()

    def _on_duplicate(self, a: dict) -> None:
        new = self.model.duplicate(a.get("nodes", []))
        if new:
            self.selected = new[0]
            self.refresh()

    def _on_search(self, a: dict) -> None:
        """A node search at the spot double-clicked, or where a wire was let go (then only nodes that
        take the wire, connected on choice)."""
        wire = a.get("wire") if isinstance(a.get("wire"), dict) else None
        choices = self.model.candidates(wire)
        x, y = float(a.get("x", 0)), float(a.get("y", 0))
        with ui.dialog() as dialog, ui.card().classes("w-96").props('data-testid="node-search"'):
            title = "Add a node" + (f" for {wire['node']}.{wire['port']}" if wire else "")
            ui.label(title).classes("text-subtitle1")
            box = ui.input(placeholder="search…").props('autofocus dense clearable data-testid="node-search-input"') \
                .classes("w-full")
            listing = ui.column().classes("w-full gap-0").style("max-height: 50vh; overflow-y: auto")

            def pick(spec, port) -> None:
                dialog.close()
                nid = self.model.add_node(spec.type, x, y)
                if wire and port:
                    if wire.get("kind") == "source":
                        problem = self.model.connect(wire["node"], wire["port"], nid, port)
                    else:
                        problem = self.model.connect(nid, port, wire["node"], wire["port"])
                    if problem:
                        ui.notify(f"Connection refused: {problem}", type="warning", position="bottom")
                self.selected = nid
                self.refresh()

            def show(text: str = "") -> None:
                listing.clear()
                text = (text or "").lower().strip()
                shown = [(sp, port) for sp, port in choices
                         if not text or text in f"{sp.title} {sp.type} {sp.description}".lower()]
                with listing:
                    for spec, port in shown[:40]:
                        item = ui.item(on_click=lambda _, sp=spec, pt=port: pick(sp, pt)).props(
                            f'dense clickable data-node-choice="{spec.type}"')
                        with item, ui.item_section():
                            ui.item_label(spec.title)
                            ui.item_label(spec.type + (f" · {port}" if port else "")).props("caption")
                    if not shown:
                        ui.label("No node matches.").classes("text-grey-7 text-sm")

            async def enter() -> None:
                text = (box.value or "").lower().strip()
                first = next(((sp, pt) for sp, pt in choices
                              if not text or text in f"{sp.title} {sp.type} {sp.description}".lower()), None)
                if first:
                    pick(*first)

            box.on_value_change(lambda e: show(e.value))
            box.on("keydown.enter", enter)
            show()
        dialog.open()

    def _on_menu(self, a: dict) -> None:
        """A node's context menu where it was right-clicked: acts on the selection it belongs to."""
        nid, nodes = a.get("node"), [n for n in a.get("nodes", []) if self.model.has_node(n)]
        if not nid or not self.model.has_node(nid):
            return
        many = f" {len(nodes)} nodes" if len(nodes) > 1 else ""
        x, y = int(a.get("screen_x", 0)), int(a.get("screen_y", 0))
        with ui.dialog().props("transition-show=none transition-hide=none") as dialog, \
                ui.card().classes("p-1 gap-0").props('data-testid="node-menu"') \
                .style(f"position: fixed; left: {x}px; top: {y}px; min-width: 12rem"):
            def item(label: str, icon: str, action, tid: str) -> None:
                def run() -> None:
                    dialog.close()
                    action()
                ui.button(label, icon=icon, on_click=run).props(f'flat dense align=left no-caps data-menu="{tid}"') \
                    .classes("w-full")
            item("Edit params", "tune", lambda: self._on_select({"node": nid}), "edit")
            spec = self.studio.registry.get(self.model.node(nid)["type"])
            audio = [p.name for p in (spec.outputs.values() if spec else []) if p.type.value == "Audio"]
            if audio and nid in self.keys:
                item("Play", "play_arrow", lambda: self._on_play({"node": nid, "port": audio[0]}), "play")
            item("Duplicate" + many, "content_copy", lambda: self._on_duplicate({"nodes": nodes}), "duplicate")
            item("Copy" + many, "file_copy", lambda: self._on_copy({"nodes": nodes}), "copy")
            item("Delete" + many, "delete", lambda: self._on_delete({"nodes": nodes}), "delete")
            for mode, label, icon, key in (("bypass", "Bypass", "alt_route", "Ctrl+B"), ("mute", "Mute", "block", "Ctrl+M")):
                on = all(self.model.node(n).get("mode") == mode for n in nodes)
                item(("Unbypass" if mode == "bypass" else "Unmute") + many if on else f"{label}{many} ({key})",
                     icon, lambda m=None if on else mode: self._edit(self.model.set_mode(nodes, m)), mode)
            group = self.model.group_of(nid)
            if group is not None:
                item(f"Ungroup “{group.get('title') or group['id']}”", "layers_clear",
                     lambda: self._edit(self.model.ungroup(group["id"])), "ungroup")
            elif len(nodes) > 1:
                item(f"Group{many} (Ctrl+G)", "layers", lambda: self._edit(self.model.group(nodes) is not None), "group")
            bent = [f"{e['from']}->{e['to']}" for e in self.model.doc["edges"] if e.get("via")
                    and {e["from"].split(".")[0], e["to"].split(".")[0]} & set(nodes)]
            if bent:
                item("Straighten wires", "timeline", lambda: self._edit(any([self.model.set_via(e, []) for e in bent])),
                     "straighten")
        dialog.open()

    def _edit(self, changed: bool) -> None:
        """After a model edit from a menu: show it (when something changed)."""
        if changed:
            self._touched = True
            self.refresh()

    def _on_copy(self, a: dict) -> None:
        fragment = self.model.fragment(a.get("nodes", []))
        if not fragment["nodes"]:
            return
        self.studio.clipboard = fragment  # shared by every tab of this studio
        text = json.dumps(fragment)
        # the system clipboard too, where the browser allows it (pasted into a text editor it is pipeline JSON)
        ui.run_javascript(f"navigator.clipboard && navigator.clipboard.writeText({json.dumps(text)}).catch(() => {{}})")
        ui.notify(f"Copied {len(fragment['nodes'])} node(s)", position="bottom")

    def _on_paste(self, a: dict) -> None:
        fragment = getattr(self.studio, "clipboard", None)
        if not fragment:
            return
        new = self.model.paste(fragment, float(a.get("x", 0)), float(a.get("y", 0)))
        if new:
            self.selected = new[0]
            self.refresh()

    def _on_play(self, a: dict) -> None:
        self.selected = a.get("node")
        self.tabs.set_value(self.tab_node)
        self.node_panel.show(self.selected, play=a.get("port"))

    def set_param(self, node_id: str, field: str, value: Any) -> None:
        self._touched = True
        self.model.set_param(node_id, field, value)
        self.canvas.set_graph(self.model.canvas_nodes(), self.model.canvas_edges(PORT_COLORS))
        self.revalidate()
        self.node_panel.refresh_outputs()

    def undo(self) -> None:
        if self.model.undo():
            self.refresh()

    def redo(self) -> None:
        if self.model.redo():
            self.refresh()

    def _layout(self) -> None:
        self.model.layout()
        self.refresh()
        self.canvas.fit_view()

    def _rename(self, e) -> None:
        if (e.value or None) == self.model.doc.get("name"):  # shown on a tab switch, not typed
            return
        self.model.doc["name"] = e.value or None
        self.model.revision += 1
        self.workflows.render()

    def load_doc(self, doc) -> None:
        self.model.load(doc)
        self.workflows.current.clean_revision = self.model.revision  # as imported: closing it asks nothing
        self.workflows.render()  # the tab takes the imported pipeline's name
        self.name_input.value = self.model.doc.get("name") or ""
        self.inputs = {}
        self.selected = None
        self.states = {}
        self.refresh()
        self.canvas.fit_view()

    # -- import / export ---------------------------------------------------------------
    def _export_dialog(self) -> None:
        text = self.model.to_json()
        with ui.dialog() as dialog, ui.card().classes("w-[40rem] max-w-full"):
            ui.label("Pipeline JSON (the same format `haysay run` takes)").classes("text-subtitle1")
            ui.textarea(value=text).props('readonly outlined data-testid="export-json"').classes("w-full font-mono") \
                .style("font-size: 12px").props("rows=18")
            with ui.row():
                name = (self.model.doc.get("name") or "pipeline").replace("/", "_")
                ui.button("Download", icon="download",
                          on_click=lambda: ui.download.content(text, f"{name}.json", "application/json"))
                ui.button("Close", on_click=dialog.close).props("flat")
        dialog.open()

    def _import_dialog(self) -> None:
        with ui.dialog() as dialog, ui.card().classes("w-[40rem] max-w-full"):
            ui.label("Import a pipeline (paste JSON or upload a .json file)").classes("text-subtitle1")
            area = ui.textarea(placeholder='{"format": "haysay.pipeline/1", ...}') \
                .props('outlined rows=14 data-testid="import-json"').classes("w-full font-mono").style("font-size: 12px")
            problems = ui.column().classes("text-negative text-sm")

            def load(text: str) -> None:
                problems.clear()
                try:
                    doc = parse_pipeline(text)
                except PipelineFormatError as exc:
                    with problems:
                        for e in exc.errors:
                            ui.label(str(e))
                    return
                self.load_doc(doc)
                dialog.close()

            async def uploaded(e) -> None:
                area.value = (await e.file.read()).decode("utf-8", "replace")

            ui.upload(on_upload=uploaded, auto_upload=True, max_file_size=2 << 20).props("accept=.json flat dense") \
                .classes("w-full")
            with ui.row():
                ui.button("Load", on_click=lambda: load(area.value or "")).props('data-testid="import-load"')
                ui.button("Cancel", on_click=dialog.close).props("flat")
        dialog.open()

    # -- running -----------------------------------------------------------------------
    def _may_start(self) -> bool:
        """Valid and within the rate limit; otherwise says why."""
        self.revalidate()
        if self.errors:
            ui.notify(f"Fix {len(self.errors)} problem(s) first: {self.errors[0]}", type="negative", position="bottom")
            return False
        client = ui.context.client.request.client if ui.context.client.request else None
        who = client.host if client else "local"
        if not self.studio.run_limiter.allow(who):
            wait = int(self.studio.run_limiter.retry_after(who)) + 1
            ui.notify(f"Too many runs; try again in {wait} s", type="warning", position="bottom")
            return False
        return True

    def run(self) -> None:
        """Run, or, while a run goes, cancel it (the button says which)."""
        if self.handle is not None and not self.handle.finished:
            self.handle.cancel()
            self.status.text = "cancelling…"
            self.run_button.disable()
            return
        if not self._may_start():
            return
        doc = self.model.to_doc()
        self.handle = start_run(self.studio.engine, doc, dict(self.inputs), live=self.studio.live_runs)
        self.run_keys, self.run_revision = {}, self.model.revision
        self.seen_version = -1
        self.status.text = "running…"
        self._run_button(running=True)
        self.node_panel.refresh_outputs()  # a streaming stage's live player, before the stage ends

    def _run_button(self, running: bool) -> None:
        b = self.run_button
        b.text, b.icon = ("Cancel", "stop") if running else ("Run", "play_arrow")
        b.props(f"text-color={'red-9' if running else 'green-9'}")
        b.enable()

    async def queue(self) -> None:
        if not self._may_start():
            return
        try:
            job_id = await ng_run.io_bound(self.studio.submit_job, self.model.to_doc(), dict(self.inputs))
        except InvalidPipeline as exc:
            ui.notify(f"Not queued: {exc.errors[0] if exc.errors else exc}", type="negative", position="bottom")
            return
        except ValueError as exc:  # AdmissionRefused: no worker could ever run it
            ui.notify(f"Not queued: {exc}", type="negative", position="bottom")
            return
        ui.notify(f"Queued job {job_id[:8]}", type="positive")
        self.tabs.set_value(self.tab_jobs)
        await self.jobs.poll(force=True)

    def _poll(self) -> None:
        self._autosave_tick()
        h = self.handle
        if h is None:
            return
        snap = h.snapshot()
        if snap.version == self.seen_version:
            return
        self.seen_version = snap.version
        self.states = snap.states
        self.canvas.set_states(snap.states)
        if not snap.finished:
            return
        self._run_button(running=False)
        if snap.result is not None:
            r = snap.result
            self.run_keys = {nid: st.cache_key for nid, st in r.stages.items() if st.status in ("done", "cached")
                             and not self.studio.registry[st.type].cacheable}
            self.status.text = f"{r.status} in {r.duration:.1f} s · {len(r.computed)} computed, {len(r.cached)} cached"
            kind = "positive" if r.ok else "warning" if r.status == "cancelled" else "negative"
            ui.notify(f"Run {r.status}" + (f": {r.error}" if r.error else ""), type=kind, position="bottom")
        else:
            self.status.text = "failed"
            ui.notify(f"Run failed: {snap.error}", type="negative", position="bottom")
        self.revalidate()
        self.node_panel.show(self.selected)
        self.history.refresh()
        self.compare.refresh_choices()
