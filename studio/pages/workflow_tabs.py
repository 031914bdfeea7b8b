"""Several open workflows in one editor, as tabs above the canvas.

Each tab owns a `GraphModel` (its document and its undo history), so switching keeps both; the
editor edits whichever is active. The tabs are autosaved with the open document (autosave.py).
"""
from __future__ import annotations

from typing import Any

from nicegui import ui

from ..graph_model import GraphModel


class Workflow:
    def __init__(self, model: GraphModel, modified: bool = False):
        self.model = model
        self.saved_revision = model.revision
        # changed since it was opened empty or imported: closing it then asks first
        self.clean_revision = None if modified else model.revision
        self.run: dict[str, Any] | None = None  # its run state while another tab is open (EditorPage.run_state)

    @property
    def modified(self) -> bool:
        return self.model.revision != self.clean_revision

    @property
    def title(self) -> str:
        return self.model.doc.get("name") or "untitled"


class WorkflowTabs:
    def __init__(self, page):
        self.page = page
        self.items = [Workflow(page.model)]
        self.active = 0
        self.moved = False  # tabs opened, closed or switched since the last autosave
        self.bar = ui.row().classes("items-center gap-0 px-1 bg-grey-2 w-full no-wrap overflow-x-auto") \
            .style("height: 34px").props('data-testid="workflow-tabs"')
        self.dialogs = ui.element("div")  # outside the bar, which is redrawn while a dialog is open
        self.render()

    @property
    def current(self) -> Workflow:
        return self.items[self.active]

    def render(self) -> None:
        self.bar.clear()
        with self.bar:
            for i, w in enumerate(self.items):
                on = i == self.active
                with ui.row().classes("items-center gap-0 no-wrap " + ("bg-white" if on else "")):
                    tab = ui.button(w.title, on_click=lambda _, i=i: self.switch(i)) \
                        .props(f'flat dense no-caps size=sm data-testid="wf-tab-{i}" '
                               f'color={"primary" if on else "grey-8"}')
                    tab.on("dblclick", lambda _, i=i: self.rename(i))
                    tab.tooltip("Double-click to rename")
                    if on:
                        ui.button(icon="edit", on_click=lambda _, i=i: self.rename(i)) \
                            .props(f'flat dense round size=xs color=grey-7 data-testid="wf-rename-{i}"').tooltip("Rename")
                    ui.button(icon="close", on_click=lambda _, i=i: self.close(i)) \
                        .props(f'flat dense round size=xs color=grey-7 data-testid="wf-close-{i}"').tooltip("Close tab")
            ui.button(icon="add", on_click=self.new).props('flat dense round size=sm data-testid="wf-new"') \
                .tooltip("New workflow tab")

    def new(self) -> None:
        self.items.append(Workflow(GraphModel(self.page.studio.registry)))
        self.switch(len(self.items) - 1)

    def switch(self, i: int) -> None:
        if not 0 <= i < len(self.items) or (i == self.active and self.current.model is self.page.model):
            return  # the open tab again: nothing to redraw (a double-click to rename is on its way)
        self.current.run = self.page.run_state()  # kept with the tab it belongs to
        self._show(i)

    def _show(self, i: int) -> None:
        self.active, self.moved = i, True
        self.page.activate(self.current.model, run=self.current.run)
        self.render()

    def rename(self, i: int) -> None:
        w = self.items[i]
        with self.dialogs, ui.dialog() as dialog, ui.card().props('data-testid="wf-rename"'):
            box = ui.input("Workflow name", value=w.model.doc.get("name") or "").props("autofocus dense") \
                .props('data-testid="wf-rename-input"')

            def done() -> None:
                dialog.close()
                w.model.doc["name"] = (box.value or "").strip() or None
                w.model.revision += 1
                if w is self.current:
                    self.page.name_input.value = w.model.doc.get("name") or ""
                self.render()

            box.on("keydown.enter", done)
            with ui.row():
                ui.button("Rename", on_click=done).props('data-testid="wf-rename-ok"')
                ui.button("Cancel", on_click=dialog.close).props("flat")
        dialog.open()

    def close(self, i: int) -> None:
        w = self.items[i]
        if not w.modified or not w.model.doc.get("nodes"):
            self._drop(w)
            return
        with self.dialogs, ui.dialog() as dialog, ui.card().props('data-testid="wf-close-confirm"'):
            ui.label(f"Close “{w.title}”? Its changes will be lost (export it first to keep them).")
            with ui.row():
                ui.button("Close tab", on_click=lambda: (dialog.close(), self._drop(w))) \
                    .props('color=negative data-testid="wf-close-ok"')
                ui.button("Keep", on_click=dialog.close).props('flat data-testid="wf-close-cancel"')
        dialog.open()

    def _drop(self, w: Workflow) -> None:
        if w not in self.items:
            return
        was_active = w is self.current
        current = self.current
        run = self.page.run_state() if was_active else w.run
        if run and run.get("handle") is not None and not run["handle"].finished:
            run["handle"].cancel()  # a closed tab's run is not left going
        self.items.remove(w)
        if not self.items:
            self.items.append(Workflow(GraphModel(self.page.studio.registry)))
        if was_active:
            self._show(min(self.active, len(self.items) - 1))
        else:
            self.active, self.moved = self.items.index(current), True
            self.render()

    # -- autosave ----------------------------------------------------------------------
    def unsaved(self) -> bool:
        return self.moved or any(w.model.revision != w.saved_revision for w in self.items)

    def mark_saved(self) -> None:
        self.moved = False
        for w in self.items:
            w.saved_revision = w.model.revision

    def state(self) -> dict[str, Any]:
        return {"active": self.active, "tabs": [{"doc": w.model.doc, "modified": w.modified} for w in self.items]}

    def restore(self, state: dict[str, Any] | None, open_doc: dict[str, Any] | None) -> None:
        """The saved tabs; `open_doc`, the open document saved last (another page may have changed
        it), replaces the active tab's."""
        saved = state["tabs"] if state else []
        active = state["active"] if state else 0
        if not saved and open_doc and open_doc.get("nodes"):
            saved = [{"doc": open_doc, "modified": True}]
        elif open_doc and saved and open_doc != saved[active]["doc"]:
            saved[active] = {"doc": open_doc, "modified": True}
        if not saved:
            return
        self.items = []
        for tab in saved:
            model = GraphModel(self.page.studio.registry)
            model.load_saved(tab["doc"])
            self.items.append(Workflow(model, modified=tab["modified"]))
        self.active = active
        self.mark_saved()
        self.page.activate(self.current.model, fresh=False)
        self.render()
