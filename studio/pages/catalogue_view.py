"""The models page's Browse tab: catalogue entries (haysay's shape and Hay Say's character_models.json)
with search and filters, installed in a background thread with a progress bar and Cancel, and
"Use in graph", which drops the adapter node with its model set into the editor's autosaved document.

Catalogues come from `haysay studio --catalogue PATH` (repeatable; handed on as $HAYSAY_STUDIO_CATALOGUES)
and every *.json in HAYSAY_HOME/catalogues/.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from nicegui import run as ng_run
from nicegui import ui

from ..autosave import SESSION_KEY, Autosave, parse_saved
from ..graph_model import GraphModel

ENV_CATALOGUES = "HAYSAY_STUDIO_CATALOGUES"  # os.pathsep-separated files or URLs
# architecture -> (adapter node, its param naming an installed model)
ADAPTERS = {"rvc": ("vc.rvc", "model"), "sovits": ("vc.sovits", "model"), "sovits5": ("vc.sovits5", "model"),
            "openvoice": ("vc.openvoice", "model"), "coqui": ("tts.coqui", "model"),
            "styletts2": ("tts.styletts2", "model"), "talknet": ("tts.talknet", "model"),
            "demucs": ("audio.separate", "model"), "gpt_sovits": ("tts.gpt_sovits", "model")}
ALL = "all"


def prepared_note(model) -> str:
    """Build an installed RVC / so-vits model's compiled graphs (nodes.vc.prepare); '; <what happened>', or ''."""
    from haysay.nodes.vc.prepare import describe, needs_preparing, prepare_model

    if not needs_preparing(model.architecture):
        return ""
    return "; " + describe(prepare_model(model.name, model.architecture))


class InstallCancelled(Exception):
    """Raised from the download's progress callback: the download and the staged install are dropped."""


class InstallJob:
    """One catalogue entry installed by the model store in a thread; the page polls its figures."""

    def __init__(self, store, catalogue, entry):
        self.store, self.catalogue, self.entry = store, catalogue, entry
        self.total = entry.size
        self.done_bytes = 0
        self.state = "running"  # then installed | cancelled | failed
        self.message = ""
        self.preparing = False  # installed, its compiled graphs being built
        self._cancel = threading.Event()
        self._base = self._last = 0
        self.thread = threading.Thread(target=self._run, name=f"haysay-install-{entry.name}", daemon=True)

    def start(self) -> "InstallJob":
        self.thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def fraction(self) -> float:
        return min(1.0, self.done_bytes / self.total) if self.total else 0.0

    def _progress(self, done: int, _total: int | None) -> None:
        if self._cancel.is_set():
            raise InstallCancelled()
        if done < self._last:  # the next file of the entry began
            self._base += self._last
        self._last = done
        self.done_bytes = self._base + done

    def _run(self) -> None:
        try:
            model = self.store.install(self.entry.name, catalogue=self.catalogue, progress=self._progress)
        except InstallCancelled:
            self.state, self.message = "cancelled", f"install of {self.entry.name} cancelled; nothing was installed"
        except Exception as exc:  # the store names the file and the problem
            self.state, self.message = "failed", f"install of {self.entry.name} failed: {exc}"
        else:
            message = f"installed {model.name} ({model.architecture}, {model.size_bytes / 2**20:.1f} MiB)"
            self.preparing = True  # its graphs next, as `haysay models install` builds them
            self.message = message + prepared_note(model)
            self.state = "installed"


def add_model_node(registry, saved: dict | None, architecture: str, model_name: str) -> tuple[dict, str]:
    """The saved editor document with the architecture's adapter node added, its model param set;
    returns (document, new node id). Placed right of the nodes already there."""
    node_type, field = ADAPTERS[architecture]
    graph = GraphModel(registry)
    if saved:
        graph.load_saved(saved)
    ys = [float((n.get("position") or {}).get("y", 0.0)) for n in graph.doc["nodes"]]
    x, y = graph.free_spot(0.0, min(ys) if ys else 0.0)
    node_id = graph.add_node(node_type, x, y, params={field: model_name})
    return graph.doc, node_id


def given_catalogues() -> list[str]:
    return [s for s in os.environ.get(ENV_CATALOGUES, "").split(os.pathsep) if s.strip()]


def _row(i: int, entry, catalogue, installed: dict[str, str], registry) -> dict[str, Any]:
    """A table row; `installed` maps installed names (case-folded) to their architecture, as detected."""
    arch = entry.architecture or catalogue.architecture or "?"
    size = entry.size
    model_arch = installed.get(entry.name.casefold())  # names are unique in the store, across architectures
    return {"key": i, "name": entry.name, "architecture": arch,
            "size": "?" if size is None else f"{size / 2**20:.1f} MiB",
            "license": entry.license or "not stated", "creator": entry.creator or "–",
            "language": entry.language or "–", "catalogue": Path(catalogue.origin.split("?")[0]).name,
            "installed": model_arch is not None, "model_arch": model_arch or "",
            "usable": model_arch in ADAPTERS and ADAPTERS[model_arch][0] in registry}


SEARCHED = ("name", "architecture", "size", "license", "creator", "language", "catalogue")


BROWSE_ACTIONS = '''
  <q-td :props="props">
    <q-badge v-if="props.row.installed" color="positive" label="installed" :data-installed="props.row.name" />
    <q-btn v-if="props.row.installed && props.row.usable" flat dense color="primary" icon="add_box"
           label="Use in graph" :data-use="props.row.name" @click="() => $parent.$emit('use', props.row)" />
    <q-btn v-if="!props.row.installed" flat dense color="primary" icon="download" label="Install"
           :data-install="props.row.name" @click="() => $parent.$emit('install', props.row)" />
  </q-td>'''


def browse_tab(studio, store, on_installed, hide_paths) -> None:
    """The Browse tab's content; `on_installed` refreshes the Installed tab."""
    loaded: list[tuple[Any, Any]] = []  # (catalogue, entry), indexed by the rows' key
    job: list[InstallJob] = []
    autosave = Autosave(studio.settings.home)

    with ui.row().classes("w-full max-w-6xl px-4 pt-2 items-center gap-3"):
        count = ui.label("reading catalogues…").classes("text-grey-7").props('data-testid="browse-count"')
        ui.space()
        arch_filter = ui.select([ALL], value=ALL, label="Architecture").props('dense data-testid="browse-arch"') \
            .classes("w-40")
        creator_filter = ui.select([ALL], value=ALL, label="Creator").props('dense data-testid="browse-creator"') \
            .classes("w-40")
        lang_filter = ui.select([ALL], value=ALL, label="Language").props('dense data-testid="browse-language"') \
            .classes("w-32")
        search = ui.input(placeholder="search name, licence, creator…") \
            .props('dense clearable data-testid="browse-search"').classes("w-72")
    problems = ui.label("").classes("px-4 text-sm text-negative whitespace-pre-line") \
        .props('data-testid="catalogue-errors"')
    with ui.card().classes("mx-4 w-full max-w-6xl").props('data-testid="install-progress"') as progress_card:
        with ui.row().classes("w-full items-center gap-3"):
            progress_label = ui.label("").classes("text-sm").props('data-testid="install-progress-label"')
            ui.space()
            ui.button("Cancel", icon="close", color="negative", on_click=lambda: job and job[0].cancel()) \
                .props('flat dense data-testid="install-cancel"')
        bar = ui.linear_progress(value=0.0, show_value=False).props('data-testid="install-bar" size=12px')
    progress_card.set_visibility(False)
    status = ui.label("").classes("px-4 text-sm").props('data-testid="browse-status"')
    columns = [{"name": c, "label": label, "field": c, "align": "left", "sortable": c in ("name", "architecture")}
               for c, label in (("name", "Name"), ("architecture", "Architecture"), ("size", "Size"),
                                ("license", "Licence"), ("creator", "Creator"), ("language", "Language"),
                                ("catalogue", "Catalogue"), ("actions", ""))]
    table = ui.table(columns=columns, rows=[], row_key="key", pagination=50).classes("w-full max-w-6xl mx-4") \
        .props('data-testid="browse" flat bordered dense wrap-cells')
    table.add_slot("body-cell-actions", BROWSE_ACTIONS)

    def rows() -> list[dict]:
        installed = {m.name.casefold(): m.architecture for m in store.list()}
        return [_row(i, e, c, installed, studio.registry) for i, (c, e) in enumerate(loaded)]

    def refresh() -> None:
        all_rows = rows()
        text = (search.value or "").casefold().strip()
        shown = [r for r in all_rows
                 if arch_filter.value in (ALL, r["architecture"]) and creator_filter.value in (ALL, r["creator"])
                 and lang_filter.value in (ALL, r["language"])
                 and (not text or text in " ".join(r[k] for k in SEARCHED).casefold())]
        table.rows = shown
        table.update()
        count.text = f"{len(shown)} of {len(all_rows)} catalogue models"

    async def load() -> None:
        from haysay.graph_engine.models.catalogue import catalogue_sources, load_catalogues

        sources = catalogue_sources(studio.settings.home, given_catalogues())
        catalogues, errors = await ng_run.io_bound(load_catalogues, sources)
        loaded[:] = [(c, e) for c in catalogues for e in c.entries]
        all_rows = rows()
        for select, key in ((arch_filter, "architecture"), (creator_filter, "creator"), (lang_filter, "language")):
            select.set_options([ALL, *sorted({r[key] for r in all_rows})], value=ALL)
        problems.text = "\n".join(hide_paths(e) for e in errors)
        if not sources:
            problems.text = ("No catalogues: start the studio with --catalogue FILE (a Hay Say character_models.json "
                             "or a haysay catalogue), or put *.json files in HAYSAY_HOME/catalogues/")
        refresh()

    def install(row: dict) -> None:
        if job and job[0].state == "running":
            ui.notify("one install at a time: wait for it or cancel it", type="warning")
            return
        if studio.config.sandboxed and not studio.config.allow_url_installs:
            ui.notify("Installing from URLs is disabled on a shared studio (HAYSAY_STUDIO_ALLOW_URL_INSTALLS=1 "
                      "enables it)", type="negative")
            return
        catalogue, entry = loaded[row["key"]]
        job[:] = [InstallJob(store, catalogue, entry).start()]
        progress_card.set_visibility(True)
        status.text = ""
        ticker.activate()

    def watch() -> None:
        if not job:
            return
        j = job[0]
        total = f"{j.total / 2**20:.1f} MiB" if j.total else "? MiB"
        progress_label.text = f"{j.entry.name}: " + ("installed; building its graphs (checked against torch)"
                                                     if j.preparing else f"{j.done_bytes / 2**20:.1f} of {total}")
        bar.value = j.fraction
        if j.state == "running":
            return
        ticker.deactivate()
        progress_card.set_visibility(False)
        status.text = hide_paths(j.message)
        ui.notify(status.text, type="positive" if j.state == "installed" else "warning", multi_line=True)
        refresh()
        on_installed()

    async def use(row: dict) -> None:
        try:
            saved = parse_saved(await ui.run_javascript(f"sessionStorage.getItem({json.dumps(SESSION_KEY)})",
                                                        timeout=5))
        except Exception:  # no answer from the tab: the workspace's copy then
            saved = None
        saved = saved or await ng_run.io_bound(autosave.load)
        doc, _ = add_model_node(studio.registry, saved, row["model_arch"], row["name"])
        await ng_run.io_bound(autosave.save, doc)
        ui.run_javascript(f"sessionStorage.setItem({json.dumps(SESSION_KEY)}, {json.dumps(json.dumps(doc))})")
        ui.navigate.to("/")

    async def on_use(e) -> None:
        await use(e.args)

    ticker = ui.timer(0.25, watch, active=False)
    table.on("install", lambda e: install(e.args))
    table.on("use", on_use)
    for element in (arch_filter, creator_filter, lang_filter, search):
        element.on_value_change(lambda _: refresh())
    ui.timer(0.05, load, once=True)
